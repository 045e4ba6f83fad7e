"""Counters shared by the schemathesis test and the terminal summary in conftest.py."""

from __future__ import annotations

from collections import Counter

SCHEMATHESIS_CASES: Counter[str] = Counter()
