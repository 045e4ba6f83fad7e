"""Handlers for `custom.dreams.*` operations (see spec/openapi.yaml).

Not built yet: a dream is a session whose agent reads past sessions and rewrites a memory store with memory tools.
The session runtime has no memory toolset (memory stores reach only self-hosted workers, through the API), so a dream
could not do its work here; an empty job that never writes would not be honest. Each operation answers 501 saying
so (README, implementation map; docs/development/notes/issue-12-ingress.md says what building it takes)."""

from gateway.planned import planned

REASON = (
    "a dream runs as a session whose agent rewrites a memory store with memory tools, and this gateway's session "
    "runtime has no memory toolset yet"
)

list = planned("custom.dreams.list", REASON)
retrieve = planned("custom.dreams.retrieve", REASON)
create = planned("custom.dreams.create", REASON)
archive = planned("custom.dreams.archive", REASON)
cancel = planned("custom.dreams.cancel", REASON)
