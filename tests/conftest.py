"""Suite-wide set-up and reporting.

* The gateway's default data directory points into a temporary directory, never the user's home; set at import time,
  before any app (in process or as a subprocess, which inherits the environment) resolves it.
* The gateway's own modules are byte-compiled once, before any test starts a gateway process: with
  ``PYTHONDONTWRITEBYTECODE`` set (as on these machines) every process would otherwise compile ~180 modules from
  source at start-up (pip byte-compiles installed packages, not an editable project).
* How much schemathesis exercised (operations and generated cases), added up from the tests' reports, so it is right
  when pytest-xdist workers ran them (this file is loaded by the process that reports; a conftest further down is not).
"""

from __future__ import annotations

import compileall
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from tests.contract._stats import PROPERTY

os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="gw-tests-data-")

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # once, in the process that starts the test workers (or runs alone)
        for package in ("gateway", "handlers", "bench"):
            compileall.compile_dir(ROOT / package, quiet=1)


REPORTED: Counter[str] = Counter()
#: items that reported their teardown in this process (every item that ran reports exactly one)
FINISHED = [0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        FINISHED[0] += 1
        for name, value in report.user_properties:
            if name == PROPERTY and isinstance(value, dict):
                REPORTED.update(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTED:
        terminalreporter.write_line(
            f"schemathesis: {len(REPORTED)} operations, {sum(REPORTED.values())} generated cases (all checks; planned "
            "operations excused from not_a_server_error only, the WebSocket one from positive_data_acceptance only)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis names each operation's test ``test_every_operation[<operation>]`` but, with pytest 9's node ids
    (``Node._id``), leaves its node id at ``...::test_every_operation`` for all of them. pytest-xdist tracks items by
    node id, so a worker's first report would count for every operation and the rest would silently never run. Each
    such item gets the node id its name says (in every worker alike: the hook runs on each one's collection)."""
    for item in items:
        if getattr(item, "operation_label", None) and item.parent is not None and hasattr(item, "_id"):
            if item.nodeid.rpartition("::")[2] != item.name:
                item._id = item.parent.id.child(item.name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that reports success must have run every collected test: fewer finished items than collected ones (a
    test worker that lost track of items) fails the run instead of passing silently."""
    if hasattr(session.config, "workerinput") or session.config.option.collectonly or exitstatus != 0:
        return  # a worker runs a share of the items; the process that reports checks the whole
    missing = session.testscollected - FINISHED[0]
    if missing > 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", f"{missing} of {session.testscollected} collected tests never ran", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
