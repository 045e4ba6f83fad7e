"""Each test attaches the schemathesis cases it generated to its report (``user_properties``); the suite-wide
``tests/conftest.py`` adds them up in the process that reports, so the count is right under test workers too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.contract._stats import PROPERTY, SCHEMATHESIS_CASES


@pytest.fixture(autouse=True)
def _count_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    before = Counter(SCHEMATHESIS_CASES)
    yield
    generated = SCHEMATHESIS_CASES - before
    if generated:
        request.node.user_properties.append((PROPERTY, dict(generated)))
