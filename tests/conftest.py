"""Suite-wide set-up and reporting.

* The gateway's default data directory points into a temporary directory, never the user's home; set at import time,
  before any app (in process or as a subprocess, which inherits the environment) resolves it.
* How much schemathesis exercised (operations and generated cases), added up from the tests' reports, so it is right
  when pytest-xdist workers ran them (this file is loaded by the process that reports; a conftest further down is not).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter

import pytest

from tests.contract._stats import PROPERTY

os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="gw-tests-data-")

REPORTED: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        for name, value in report.user_properties:
            if name == PROPERTY and isinstance(value, dict):
                REPORTED.update(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTED:
        terminalreporter.write_line(
            f"schemathesis: {len(REPORTED)} operations, {sum(REPORTED.values())} generated cases (all checks; planned "
            "operations excused from not_a_server_error only, the WebSocket one from positive_data_acceptance only)"
        )
