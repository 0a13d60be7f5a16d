"""Delay: users wait here (at most MAX_DELAY), then walk on; a stopped canvas lets them out."""

from __future__ import annotations

from datetime import datetime

from canvas.models import DelayUnit, Step, StepKind

from .base import Editor, StepType


class Delay(StepType):
    kind = StepKind.DELAY
    label = StepKind.DELAY.label
    add_action = "add-delay"
    fields = ("delay_value", "delay_unit")
    defaults = {"delay_value": 1, "delay_unit": DelayUnit.HOURS}
    waits = True
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
