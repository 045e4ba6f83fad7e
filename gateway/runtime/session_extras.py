"""What a session's resources add to each of its model requests (the driver calls :meth:`SessionExtras.apply`).

* Memory stores attached to the session: the ``memory`` server tool (unless the agent has a tool of that name) and
  the memory section of the system prompt (:mod:`gateway.runtime.memory_tool`).
* On ``cloud`` environments with an executor: the agent's skills unpacked into the sandbox and the skills section
  of the system prompt (:mod:`gateway.runtime.skills_mount`). Self-hosted workers download skills themselves.

Sections are appended to the agent's ``system`` after a blank line (a text block when ``system`` is a list)."""

from __future__ import annotations

from typing import Any

from gateway.runtime import memory_tool
from gateway.runtime.skills_mount import SkillsMount
from gateway.runtime.tools import Offered
from gateway.storage.store import Record


def with_sections(system: Any, sections: list[str]) -> Any:
    text = "\n\n".join(sections)
    if isinstance(system, list):
        return [*system, {"type": "text", "text": text}]
    return f"{system}\n\n{text}" if system else text


class SessionExtras:
    def __init__(self, skills: SkillsMount | None) -> None:
        self.skills = skills

    async def apply(
        self, workspace: str, session: Record, body: dict[str, Any], offered: dict[str, Offered], *, cloud: bool
    ) -> None:
        sections: list[str] = []
        tool = memory_tool.offered(session.doc)
        if tool is not None and tool.name not in offered:
            offered[tool.name] = tool
            body["tools"] = [*body.get("tools", []), tool.definition]
            sections.append(memory_tool.prompt(session.doc) or "")
        if cloud and self.skills is not None:
            section = await self.skills.prepare(workspace, session)
            if section:
                sections.append(section)
        if sections:
            body["system"] = with_sections(body.get("system"), sections)
