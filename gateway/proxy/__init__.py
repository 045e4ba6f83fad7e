"""Pass-through to Anthropic's hosts and local answers (offline / third-party mode) for the proxy and stub operations.

Modules: ``config`` (the ``passthrough:`` section), ``operations`` (operation → category and host), ``headers``
(hygiene), ``forward`` (the streaming reverse proxy), ``websocket`` (the voice relay), ``event_sink`` (kept
telemetry), ``store`` (local settings), ``accounting`` (request counts), ``local`` (local answers), ``service``
(lifespan factory and the handlers' dispatch).
"""
