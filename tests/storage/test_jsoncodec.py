"""The database JSON codec: every document survives the round trip, and none reaches the database with ``\\u0000``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.storage.jsoncodec import dumps, loads

NASTY = st.text(alphabet=st.sampled_from(["\x00", "\ue000", "\\", "u", "0", "a", "é", '"']), max_size=12)
DOCS = st.recursive(
    st.none() | st.booleans() | st.integers() | NASTY | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NASTY, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(DOCS)
def test_round_trip_and_no_nul_escape(doc: Any) -> None:
    stored = dumps(doc)
    assert loads(stored) == doc
    assert loads(stored.encode()) == doc
    # what PostgreSQL parses: no string in it holds a NUL
    assert not _has_nul(json.loads(stored))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def test_plain_documents_are_stored_as_plain_json() -> None:
    doc = {"name": "héllo", "n": [1, 2, {"x": None}]}
    assert json.loads(dumps(doc)) == doc
