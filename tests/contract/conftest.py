"""Report how much schemathesis exercised: operations and generated cases (shown in CI output)."""

from __future__ import annotations

import pytest

from tests.contract._stats import SCHEMATHESIS_CASES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCHEMATHESIS_CASES:
        total = sum(SCHEMATHESIS_CASES.values())
        terminalreporter.write_line(
            f"schemathesis: {len(SCHEMATHESIS_CASES)} operations, {total} generated cases (all checks; planned "
            "operations excused from not_a_server_error only, the WebSocket one from positive_data_acceptance only)"
        )
