"""The table of step kinds: each kind's defaults, launch checks, counters, editor, and what
happens when users reach and leave it.

The walker (services/entry.py), launch and stop (services/canvases.py), the views, the
templates and the admin ask it; none of them names a kind. Adding a kind: a module here
with its StepType, one line in STEP_TYPES, its templates (editor and summary line), and
its editor's form and save service unless it reuses existing ones. The step's kind
choices come from this table, so no migration.
"""

from __future__ import annotations

from .audience_sync import AudienceSync
from .base import Counter, Editor, Increments, StepType
from .delay import Delay

STEP_TYPES: dict[str, StepType] = {t.kind: t for t in (AudienceSync(), Delay())}

__all__ = ["Counter", "Editor", "Increments", "STEP_TYPES", "StepType", "all_step_types",
           "kinds_where", "step_type"]


def step_type(kind: str) -> StepType:
    """The StepType of ``kind`` (a step's ``kind``); KeyError for an unknown one."""
    return STEP_TYPES[kind]


def all_step_types() -> list[StepType]:
    return list(STEP_TYPES.values())


def kinds_where(test) -> list[str]:
    """The kinds whose StepType passes ``test`` (for a query: ``kind__in=...``)."""
    return [kind for kind, step_type_ in STEP_TYPES.items() if test(step_type_)]
