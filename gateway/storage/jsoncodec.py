"""How JSON documents are written to and read from the database.

PostgreSQL's ``json`` operators (``doc->>'memory_id'``) refuse a document that holds the escape ``\\u0000``
("unsupported Unicode escape sequence"): one client string with a NUL in it would turn every filtered list over that
table into a 500. So NUL characters never reach the database as ``\\u0000``: strings are stored with a reversible
escape built on the private-use character U+E000 (``E``): ``E`` is written ``EE`` and NUL is written ``E0``. Reading
reverses it.
Documents without either character (nearly all) are written and read unchanged, and so are rows written before this
codec existed."""

from __future__ import annotations

import json
import re
from typing import Any

_MARK = "\ue000"
# a \u0000 escape that is not itself escaped (preceded by an even number of backslashes)
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
_STORED = re.compile(_MARK + "(.)", re.S)


def dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if "\\u0000" not in text and _MARK not in text:
        return text
    text = text.replace(_MARK, _MARK + _MARK)
    return _NUL_ESCAPE.sub(lambda m: m.group(1) + _MARK + "0", text)


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if _MARK in text:
        text = _STORED.sub(lambda m: "\\u0000" if m.group(1) == "0" else m.group(1), text)
    return json.loads(text)
