"""Typed client stubs generated from the gateway's OpenAPI contract."""

from gateway_client._generated import GatewayClient

__all__ = ["GatewayClient"]
