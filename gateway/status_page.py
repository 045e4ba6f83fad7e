"""The status page (``GET /``): one self-contained HTML document, no scripts, no external assets, no build step.

:func:`snapshot` reads what the running services know (settings, the routing table and each deployment's health in
this process, the recent native requests, the session runtime); :func:`render` turns it into HTML, escaping every
value. Neither holds a body, a header or a key: the request list has what the gateway's log line has.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import Any

from gateway import __version__
from gateway.settings import Settings

LINKS = (
    ("/ui/", "API docs (Swagger UI)"),
    ("/openapi.json", "OpenAPI contract"),
    ("/healthcheck", "health check"),
    ("/health/readiness", "readiness"),
)


def snapshot(settings: Settings, state: Mapping[str, Any], spec_paths: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the page shows, as plain data (also what the tests read)."""
    native = state.get("native")
    runtime = state.get("runtime")
    groups: list[dict[str, Any]] = []
    rules: list[str] = []
    default = None
    recent: list[dict[str, Any]] = []
    if native is not None:
        from gateway.cli_routes import deployment_line, rule_text

        config = native.config
        for name, deployments in config.groups.items():
            groups.append(
                {
                    "name": name,
                    "fallbacks": list(config.fallbacks.get(name, ())),
                    "deployments": [
                        {"line": deployment_line(dep, None), **native.router.health(dep)} for dep in deployments
                    ],
                }
            )
        rules = [rule_text(rule) for rule in config.rules]
        default = config.default_group
        recent = list(reversed(native.recent))
    sessions = {"running": 0, "waiting_for_a_turn": 0, "max_concurrent_turns": 0, "runs_sessions": False}
    if runtime is not None:
        sessions = {
            "running": sum(1 for task in runtime.tasks.values() if not task.done()),
            "waiting_for_a_turn": len(getattr(runtime.turns, "_waiters", None) or ()),
            "max_concurrent_turns": runtime.config.max_concurrent_turns,
            "runs_sessions": runtime.config.run_sessions,
        }
    links = list(LINKS)
    ops = state.get("ops")  # gateway.ops: /metrics is answered by its middleware, outside the contract
    if "/metrics" in spec_paths or (ops is not None and "/metrics" in getattr(ops, "endpoints", ())):
        links.append(("/metrics", "metrics"))
    return {
        "version": __version__,
        "mode": "local mode (no API keys; loopback only)"
        if settings.local_mode
        else f"{len(settings.api_keys)} key(s)",
        "listen": f"{settings.host}:{settings.port}",
        "groups": groups,
        "rules": rules,
        "default": default,
        "recent": recent,
        "sessions": sessions,
        "links": links,
    }


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _health(dep: Mapping[str, Any]) -> str:
    if dep["cooldown_seconds"] > 0:
        return f'<span class="bad">cooling down, {dep["cooldown_seconds"]:g} s left</span>'
    if dep["fails"]:
        return f'<span class="warn">{dep["fails"]} recent failure(s)</span>'
    return '<span class="ok">healthy</span>'


def render(data: Mapping[str, Any]) -> str:
    rows = []
    for group in data["groups"]:
        fallbacks = f" → fallbacks: {_e(', '.join(group['fallbacks']))}" if group["fallbacks"] else ""
        for index, dep in enumerate(group["deployments"]):
            latency = "-" if dep["latency_ms"] is None else f"{dep['latency_ms']} ms"
            name = f"<td rowspan={len(group['deployments'])}>{_e(group['name'])}{fallbacks}</td>" if index == 0 else ""
            rows.append(
                f"<tr>{name}<td><code>{_e(dep['line'])}</code></td><td>{_health(dep)}</td>"
                f"<td>{dep['in_flight']}</td><td>{latency}</td></tr>"
            )
    rules = "".join(f"<li><code>{_e(rule)}</code></li>" for rule in data["rules"]) or "<li>(none)</li>"
    recent = "".join(
        f"<tr><td>{_e(time.strftime('%H:%M:%S', time.gmtime(r['at'])))}</td><td>{_e(r['model'])}</td>"
        f"<td>{_e(r['tier'])} / {_e(r['effort'] or 'none')}</td><td>{_e(r['group'])}</td><td>{_e(r['deployment'])}</td>"
        f"<td>{_e(r['status'])}</td><td>{len(r['attempts'])}</td><td>{'stream' if r['stream'] else 'json'}</td>"
        f"<td>{_e(r['ms'])} ms</td></tr>"
        for r in data["recent"]
    )
    if not recent:
        recent = '<tr><td colspan="9">no native requests since start-up</td></tr>'
    s = data["sessions"]
    links = " · ".join(f'<a href="{_e(href)}">{_e(text)}</a>' for href, text in data["links"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>LiteLLM Gateway status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}} h1{{font-size:1.4em}}
h2{{font-size:1.1em;margin-top:1.5em}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}}
th{{background:#f3f3f3}} code{{font-size:.95em}} .ok{{color:#176f2c}} .warn{{color:#9a6700}} .bad{{color:#b3261e}}
dl{{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}} dt{{font-weight:600}}
</style></head><body>
<h1>LiteLLM Gateway</h1>
<dl>
<dt>Version</dt><dd id="version">{_e(data["version"])}</dd>
<dt>Mode</dt><dd id="mode">{_e(data["mode"])}</dd>
<dt>Listening on</dt><dd id="listen">{_e(data["listen"])}</dd>
<dt>Sessions</dt><dd id="sessions">{s["running"]} session run(s) in this process, {s["waiting_for_a_turn"]} waiting for
a turn (at most {s["max_concurrent_turns"]} at once){"" if s["runs_sessions"] else "; runtime.run_sessions is off"}</dd>
</dl>
<p id="links">{links}</p>
<h2>Routing table</h2>
<p>Default group: <code id="default">{_e(data["default"])}</code>. Rules, first match wins:</p>
<ol id="rules">{rules}</ol>
<table id="deployments"><tr><th>group</th><th>deployment</th><th>health (this process)</th><th>in flight</th>
<th>latency (moving average)</th></tr>{"".join(rows)}</table>
<h2>Recent requests</h2>
<table id="recent"><tr><th>time (UTC)</th><th>model</th><th>tier / effort</th><th>group</th><th>deployment</th>
<th>status</th><th>attempts</th><th>kind</th><th>duration</th></tr>{recent}</table>
</body></html>
"""
