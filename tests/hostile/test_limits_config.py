"""The ``server:`` section (gateway.limits) and the log escaping helper, as units."""

from __future__ import annotations

import logging

import pytest

from gateway.limits import Limits, parse_limits
from gateway.logs import EscapingLogRecord, escape_control
from gateway.settings import ConfigError


def test_defaults_when_absent() -> None:
    assert parse_limits({}) == Limits()
    assert Limits().max_json_depth == 64 and Limits().header_timeout == 10.0


def test_values_are_read() -> None:
    limits = parse_limits({"server": {"header_timeout": 3, "max_headers": 10, "allowed_hosts": ["GW.Example"]}})
    assert limits.header_timeout == 3.0 and limits.max_headers == 10 and limits.allowed_hosts == ("gw.example",)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"nope": 1}, "server.nope"),
        ({"header_timeout": 0}, "server.header_timeout"),
        ({"header_timeout": True}, "server.header_timeout"),
        ({"max_headers": 1.5}, "server.max_headers"),
        ({"max_json_depth": 500}, "server.max_json_depth"),
        ({"allowed_origins": "https://x"}, "server.allowed_origins"),
    ],
)
def test_errors_name_the_field(section: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_limits({"server": section})


def test_escape_control() -> None:
    assert escape_control("plain") == "plain"
    assert escape_control("a\nb\r\tc\x1b[31m\u2028\x85") == "a\\nb\\r\\tc\\x1b[31m\\u2028\\x85"


def test_every_record_message_is_one_line() -> None:
    record = EscapingLogRecord("x", logging.INFO, __file__, 1, "path %s", ("/a\n2026 CRITICAL forged",), None)
    assert record.getMessage() == "path /a\\n2026 CRITICAL forged"
