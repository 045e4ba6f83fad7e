"""Log lines that a client cannot forge.

Client-controlled strings reach the log through the gateway's own messages and through the frameworks' (connexion
logs unknown query parameter names, uvicorn logs request lines). :func:`install_log_escaping` replaces the logging
record factory so that every record's *message* (the format string with its arguments applied) has its line breaks
and other control characters escaped (``\\n``, ``\\r``, ``\\x1b``, ``\\u2028``), whatever logger, handler or
formatter writes it: one record is always one line. Tracebacks (``exc_info``) are left as they are.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(text: str) -> str:
    """``text`` with C0/C1 control characters, DEL and the Unicode line/paragraph separators escaped."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class EscapingLogRecord(logging.LogRecord):
    """A record whose ``getMessage()`` is escaped (formatters and handlers all go through it)."""

    def getMessage(self) -> str:
        return escape_control(super().getMessage())


def install_log_escaping() -> None:
    """Make every log record of this process an :class:`EscapingLogRecord` (idempotent)."""
    logging.setLogRecordFactory(_make_record)


def _make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    return EscapingLogRecord(*args, **kwargs)
