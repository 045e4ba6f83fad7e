"""Counters shared by the schemathesis tests, tests/contract/conftest.py and the summary in tests/conftest.py."""

from __future__ import annotations

from collections import Counter

#: cases generated in this process, by operation
SCHEMATHESIS_CASES: Counter[str] = Counter()
#: the ``user_properties`` name a test's generated cases are reported under
PROPERTY = "schemathesis_cases"
