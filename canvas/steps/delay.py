"""Delay: users wait here (at most MAX_DELAY), then walk on; a stopped canvas lets them out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from canvas.models import DelayUnit, Step, StepKind

from .base import Counter, Editor, Increments, StepType


class Delay(StepType):
    kind = StepKind.DELAY
    label = StepKind.DELAY.label
    add_action = "add-delay"
    fields = ("delay_value", "delay_unit")
    defaults = {"delay_value": 1, "delay_unit": DelayUnit.HOURS}
    waits = True
    # Users who left the canvas from here: the last step, an exception event, a stop.
    counters = (Counter("exited", "Exited canvas", short="exited"),)
    editor = Editor(template="canvas/step_delay.html", form="canvas.forms.DelayForm",
                    save="canvas.services.canvases.step_delay_edit")
    summary_template = "canvas/_step_delay_summary.html"

    def describe(self, *, step: Step) -> str:
        return f"wait {step.delay_text}"

    def launch_problems(self, *, canvas, step: Step, where: str) -> list[str]:
        if not step.delay_value:
            return [f"{where}: set how long to wait."]
        return []

    def wait_until(self, *, step: Step, now: datetime) -> datetime:
        return now + step.delay

    def on_exit(self, *, step: Step, profile_ids: Sequence[int], onward: bool,
                now: datetime) -> Increments:
        return {} if onward else {step.pk: {"exited": len(profile_ids)}}
