"""Log lines: one JSON object per line (python-json-logger) or the former text format.

JSON lines carry ``time``, ``level``, ``logger``, ``pid`` and ``message``, plus every field a record was given with
``extra=`` (the access line's ``request_id``, ``operation``, ``key_name``...). Strings are JSON-encoded with
``ensure_ascii``: a line break, an escape character or U+2028 a client put in a path or header cannot start a new
line or fake a field. The message itself also goes through :func:`gateway.logs.install_log_escaping` (text mode
relies on that alone).
"""

from __future__ import annotations

import logging
import sys

import orjson
from pythonjsonlogger.core import RESERVED_ATTRS, LogData
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Formatter(JsonFormatter):
    """python-json-logger's formatter with orjson encoding the line when the result is plain ASCII (the usual
    case: then it is what ``ensure_ascii`` would give, written compactly); anything else (a non-ASCII character,
    a value orjson cannot encode) takes python-json-logger's own way, ``ensure_ascii`` included."""

    def jsonify_log_record(self, log_data: LogData) -> str:
        try:
            line = orjson.dumps(log_data).decode()
        except TypeError:
            return str(super().jsonify_log_record(log_data))
        return line if line.isascii() else str(super().jsonify_log_record(log_data))


def json_formatter() -> logging.Formatter:
    return _Formatter(
        "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        json_ensure_ascii=True,
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's copy of its message with terminal colours
    )


def configure(level: int, log_format: str) -> None:
    """Root logging for ``litellm-gateway serve``: ``level``, and JSON or text lines on stderr. Replaces the
    handlers uvicorn's and litellm's loggers would otherwise write with, so that every line has the chosen shape."""
    from gateway.logs import install_log_escaping

    install_log_escaping()  # one record = one line, whatever a client put in a path, header or parameter
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_log_config(log_format: str) -> dict[str, object] | None:
    """uvicorn's ``log_config``: None (uvicorn's own) for text; for JSON its loggers propagate to the root
    handler :func:`configure` installed."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }
