"""Handlers for `custom.tunnels.*` operations (see spec/openapi.yaml).

Not built, by decision: a tunnel is an Anthropic-assigned ``domain`` on Anthropic's edge that routes MCP server URLs
to a connector the customer runs; a gateway on a private host has no such edge, so stored tunnels would route
nothing. Each operation answers 501 saying so (README, implementation map)."""

from gateway.planned import planned

REASON = (
    "a tunnel is a hostname on Anthropic's edge that routes MCP traffic to the customer's connector; this gateway has "
    "no such edge, so it cannot provide tunnels"
)

list = planned("custom.tunnels.list", REASON)
retrieve = planned("custom.tunnels.retrieve", REASON)
create = planned("custom.tunnels.create", REASON)
archive = planned("custom.tunnels.archive", REASON)
reveal_token = planned("custom.tunnels.reveal_token", REASON)
rotate_token = planned("custom.tunnels.rotate_token", REASON)
