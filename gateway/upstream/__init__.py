"""Upstream transports and per-backend request hygiene."""
