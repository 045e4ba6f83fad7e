"""The session runtime: sessions run their agents (see :mod:`gateway.runtime.service`).

One floor above storage and routing: it reads and appends events through :mod:`gateway.storage` and calls models
through the in-process native router; neither of those imports this package."""
