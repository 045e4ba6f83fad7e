"""Metrics and access lines of a real gateway process after real requests (streamed and not, failed auth)."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.fakes import AnthropicFake, Behavior
from tests.ops.conftest import HEADERS, KEY, config, gateway, message


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def stream_usage(body: bytes) -> dict[str, int]:
    """input_tokens of message_start and the last output_tokens of an SSE body."""
    out: dict[str, int] = {}
    for line in body.splitlines():
        if line.startswith(b"data:"):
            data = orjson.loads(line[5:])
            usage = data.get("message", {}).get("usage") if data["type"] == "message_start" else data.get("usage")
            for name in ("input_tokens", "output_tokens"):
                if isinstance(usage, dict) and isinstance(usage.get(name), int):
                    out[name] = usage[name]
    return out


def value(parsed: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in parsed.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_and_json_lines_after_real_requests(upstream: AnthropicFake, tmp_path: Path) -> None:
    with gateway(config(upstream.url), tmp_path) as gw:
        plain = httpx.post(f"{gw.url}/v1/messages", json=message(), headers=HEADERS, timeout=30)
        assert plain.status_code == 200, plain.text
        with httpx.stream("POST", f"{gw.url}/v1/messages", json=message(stream=True), headers=HEADERS) as streamed:
            assert streamed.status_code == 200
            body = b"".join(streamed.iter_bytes())
        assert b"message_stop" in body
        wrong = httpx.post(
            f"{gw.url}/v1/messages", json=message(), headers={**HEADERS, "x-api-key": "sk-wrong-key-9876"}
        )
        assert wrong.status_code == 401

        assert httpx.get(f"{gw.url}/metrics").status_code == 401  # guarded: a gateway key is needed
        scraped = httpx.get(f"{gw.url}/metrics", headers={"authorization": f"Bearer {KEY}"})
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        parsed = samples(scraped.text)
        create = "native.messages.create"
        assert value(parsed, "gateway_requests_total", operation=create, status="200", route_group="fake") == 2
        assert value(parsed, "gateway_requests_total", operation=create, status="401") == 1
        assert value(parsed, "gateway_request_duration_seconds_count", operation=create) == 3
        assert value(parsed, "gateway_time_to_first_byte_seconds_count", operation=create, route_group="fake") == 2
        assert value(parsed, "gateway_upstream_attempts_total", outcome="ok") == 2
        assert value(parsed, "gateway_upstream_latency_seconds_count") == 2
        usage = plain.json()["usage"]
        streamed_usage = stream_usage(body)
        expected_output = usage["output_tokens"] + streamed_usage["output_tokens"]
        expected_input = usage["input_tokens"] + streamed_usage["input_tokens"]
        assert value(parsed, "gateway_tokens_total", kind="output") == expected_output > 0
        assert value(parsed, "gateway_tokens_total", kind="input") == expected_input > 0
        assert value(parsed, "gateway_open_streams") == 0
        assert value(parsed, "gateway_runtime_queue_depth") == 0
        # bounded labels: no request id, key or path reaches a label value
        for (_name, labels), _v in parsed.items():
            for _label, label_value in labels:
                assert "req_" not in label_value and KEY not in label_value and not label_value.startswith("/")

        lines = gw.access()
    by_id = {line["request_id"]: line for line in lines}
    first = by_id[plain.headers["request-id"]]
    assert first["operation"] == create and first["status"] == 200 and first["stream"] is False
    assert first["key_name"] == "ops-team" and first["workspace"] == "ws-ops"
    assert first["route_group"] == "fake" and first["deployment"] and first["attempts"] == [first["deployment"]]
    assert first["tokens"]["output"] == usage["output_tokens"] and first["tokens"]["input"] == usage["input_tokens"]
    assert first["duration_ms"] >= first["ttfb_ms"] > 0
    streamed_line = next(line for line in lines if line.get("stream") is True)
    assert streamed_line["status"] == 200 and streamed_line["tokens"]["output"] > 0
    failed = by_id[wrong.headers["request-id"]]
    assert failed["event"] == "auth_failed" and failed["level"] == "WARNING"
    assert failed["credential"] == "x-api-key" and failed["error"] and failed["key_name"] == ""
    text = gw.log.read_text()
    assert KEY not in text and "sk-wrong-key-9876" not in text  # never a key, right or wrong


def test_log_injection_is_impossible(upstream: AnthropicFake, tmp_path: Path) -> None:
    """A path and a model id with line breaks, an escape sequence and U+2028 stay inside one JSON line."""
    with gateway(config(upstream.url), tmp_path) as gw:
        evil = 'claude-x\n{"level": "CRITICAL", "forged": true}\r\x1b[2J\u2028'
        httpx.post(f"{gw.url}/v1/messages", json=message(model=evil), headers=HEADERS, timeout=30)
        httpx.get(f"{gw.url}/v1/nothing%0A%7B%22forged%22%3Atrue%7D", headers=HEADERS)
        # every line parses as JSON: none was split or forged
        lines = gw.lines_once(lambda line: "%0A" in line.get("path", "") or "\n" in line.get("path", ""))
    assert not any(line.get("forged") for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's lines are JSON too
    assert not any("color_message" in line for line in lines)  # without its terminal-coloured copy
    assert any("%0A" in line.get("path", "") or "\n" in line.get("path", "") for line in lines)
    raw = gw.log.read_bytes()
    assert b"\x1b" not in raw and "\u2028".encode() not in raw


def test_text_format_keeps_the_former_line(upstream: AnthropicFake, tmp_path: Path) -> None:
    with gateway(config(upstream.url, ops={"log_format": "text", "metrics": "open"}), tmp_path) as gw:
        assert httpx.post(f"{gw.url}/v1/messages", json=message(), headers=HEADERS, timeout=30).status_code == 200
        assert httpx.get(f"{gw.url}/metrics").status_code == 200  # metrics: open
        text = gw.log.read_text()
    assert ' INFO gateway.native: {"event":"native_request"' in text
    assert ' INFO gateway.access: {"event":"request"' in text


def test_failover_shows_in_metrics_and_the_line(upstream: AnthropicFake, tmp_path: Path) -> None:
    """A group whose deployment answers 529 falls back to another group: the attempt's outcome, the cooldown, the
    failover and both attempts in the access line."""
    broken = AnthropicFake(Behavior(status=529), name="broken-fake", record=False, validate=False).start()
    try:
        doc = config(upstream.url)
        doc["model_list"].append(
            {"model_name": "bad", "litellm_params": {"model": "anthropic/*", "api_base": broken.url, "api_key": "k"}}
        )
        doc["routing"] = {"default": "bad"}
        doc["router_settings"] = {"fallbacks": [{"bad": ["fake"]}]}
        with gateway(doc, tmp_path) as gw:
            answer = httpx.post(f"{gw.url}/v1/messages", json=message(), headers=HEADERS, timeout=30)
            assert answer.status_code == 200, answer.text
            parsed = samples(httpx.get(f"{gw.url}/metrics", headers={"x-api-key": KEY}).text)
            line = next(x for x in gw.access() if x["request_id"] == answer.headers["request-id"])
    finally:
        broken.stop()
    assert value(parsed, "gateway_upstream_attempts_total", deployment="bad/1", outcome="status") == 1
    assert value(parsed, "gateway_upstream_attempts_total", deployment="fake/1", outcome="ok") == 1
    assert value(parsed, "gateway_cooldowns_total", deployment="bad/1") == 1
    assert value(parsed, "gateway_failovers_total", route_group="bad") == 1
    assert value(parsed, "gateway_requests_total", route_group="bad", deployment="fake/1", status="200") == 1
    assert line["attempts"] == ["bad/1", "fake/1"] and line["failovers"] == 1 and line["deployment"] == "fake/1"
