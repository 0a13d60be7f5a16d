"""What a step kind declares. Everything that depends on a step's kind asks its StepType.

The hooks take users in bulk, never one at a time, and return the step counters to add
(``{step_id: {counter: n}}``): the walker writes the counters of a whole walk in one
statement, so entering or moving any number of users stays a constant number of queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

Increments = dict[int, dict[str, int]]


@dataclass(frozen=True)
class Counter:
    """A StepStats column (or ``pending``, the level they imply) a kind shows, and its words:
    ``label`` on analytics, ``short`` on the canvas page (empty: not shown there)."""

    name: str
    label: str
    short: str = ""


@dataclass(frozen=True)
class Editor:
    """The step editor page of a kind.

    ``form`` parses its POST into the keyword arguments of ``save``, the service the POST
    calls as ``save(step=..., user=..., **form.cleaned_data)``; it returns the message to
    show (or None). Dotted paths: the table imports no form, and services import it.
    """

    template: str
    form: str
    save: str
    # After a save: back to the canvas page, or the editor again (a multi-part editor).
    stay: bool = False


class StepType:
    """One step kind. Subclasses fill in the class facts and override the hooks they need."""

    kind: ClassVar[str]
    label: ClassVar[str]
    # The slug of the canvas action that adds one ("add-delay").
    add_action: ClassVar[str]
    # Step model fields the kind uses (the admin shows them; other kinds leave them empty).
    fields: ClassVar[tuple[str, ...]] = ()
    # Field values of a new step of this kind.
    defaults: ClassVar[dict] = {}
    # Users stay at the step until ``wait_until`` (else they pass it at once).
    waits: ClassVar[bool] = False
    # A canvas launches only with at least one step of a kind that says so.
    needed_to_launch: ClassVar[bool] = False
    # The counters its pages show, in order (none: the step shows no counters).
    counters: ClassVar[tuple[Counter, ...]] = ()
    editor: ClassVar[Editor]
    # The step's line on the canvas page (gets ``step``, ``canvas`` and its ``metrics``).
    summary_template: ClassVar[str]
    # The add button is the page's primary one.
    primary: ClassVar[bool] = False

    def describe(self, *, step) -> str:
        """A few words that tell this step from others of its kind ("wait 2 hours")."""
        return ""

    def editor_context(self, *, request, canvas, step, form=None) -> dict:
        """What the editor template needs beyond ``canvas``, ``step`` and ``form`` (bound to
        what was just sent, when the page shows it again after an error or a refresh)."""
        return {}

    def launch_problems(self, *, canvas, step, where: str) -> list[str]:
        """Why the step keeps its canvas from launching, in words for the marketer."""
        return []

    def on_launch(self, *, steps: list) -> None:
        """The canvas's steps of this kind are about to go live."""

    def wait_until(self, *, step, now: datetime) -> datetime:
        """When users reaching it now move on (kinds that wait)."""
        raise NotImplementedError

    def on_reach(self, *, canvas, canvas_steps: list, steps: list, profiles: list,
                 now: datetime) -> Increments:
        """``profiles`` reach ``steps`` (this kind's steps on their walk, in order) now.

        ``canvas_steps`` is the whole canvas in order. A kind that does not wait is passed
        at once: its hook counts the users leaving it as well.
        """
        return {}

    def on_exit(self, *, step, profile_ids: Sequence[int], onward: bool,
                now: datetime) -> Increments:
        """Users who waited at ``step`` leave it now: on to the next step (``onward``), or
        out of the canvas (it was the last step, or the canvas stopped)."""
        return {}

