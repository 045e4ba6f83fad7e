"""MCP servers of an agent, reached by the gateway over streamable HTTP (:mod:`gateway.runtime.mcp.toolsets`)."""
