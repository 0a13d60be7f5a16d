"""What each canvas action that cannot be taken back says before it acts."""

from __future__ import annotations

from django.urls import reverse

from audiencesync.confirm import Confirmation
from audiencesync.errors import ServiceError
from audiencesync.workspaces.profile_selectors import profile_count
from canvas import selectors
from canvas.models import Canvas, CanvasStatus, Reentry, Step
from canvas.services.entry import canvas_check_takes_entries
from canvas.services.targeting import canvas_has_target
from canvas.steps import kinds_where, step_type
from partners import registry
from partners.models import Audience


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def canvas_stop(*, canvas: Canvas) -> Confirmation:
    if canvas.status != CanvasStatus.ACTIVE:
        raise ServiceError("Only an active canvas can be stopped.")
    inside = selectors.canvas_users_inside(canvas=canvas)
    pending = sum(m.pending for m in selectors.step_metrics(
        steps=list(canvas.steps.filter(kind__in=kinds_where(lambda kind: kind.counters)))))
    return Confirmation(
        title=f"Stop canvas {canvas.name}?",
        consequences=[
            f"Stop canvas {canvas.name}: no user enters it any more.",
            f"{_count(inside, 'user waiting in a Delay exits', 'users waiting in Delays exit')}"
            " the canvas now, without walking the steps after the Delay.",
            f"{_count(pending, 'pending sync finishes', 'pending syncs finish')}: users "
            "already sent to a sync step still reach the partner.",
            "A stopped canvas cannot be launched again; duplicate it to make a new draft.",
        ],
        button="Stop canvas", cancel_url=reverse("canvas:detail", args=[canvas.pk]),
    )


def canvas_delete(*, canvas: Canvas) -> Confirmation:
    if canvas.status != CanvasStatus.DRAFT or canvas.launched_at is not None:
        raise ServiceError(f"{canvas.name!r} has run: archive it instead of deleting it.")
    steps = canvas.steps.count()
    return Confirmation(
        title=f"Delete draft {canvas.name}?",
        consequences=[
            f"The draft and its {_count(steps, 'component', 'components')} are deleted; this "
            "cannot be undone.",
            "Audiences its steps named stay at the partner and in the audience lists.",
        ],
        button="Delete draft", cancel_url=reverse("canvas:detail", args=[canvas.pk]),
    )


def canvas_enter_all(*, canvas: Canvas) -> Confirmation:
    canvas_check_takes_entries(canvas=canvas)
    profiles = profile_count(workspace=canvas.workspace)
    return Confirmation(
        title=f"Enter all profiles into {canvas.name}?",
        consequences=[
            f"Enter {'the' if profiles == 1 else 'all'} {_count(profiles, 'profile', 'profiles')}"
            f" of workspace {canvas.workspace.name} into canvas {canvas.name}, in the background.",
            "Each walks the canvas's steps: its Audience Sync steps send them to the partners.",
            "Profiles already in the canvas are not entered again.",
            *([f"Only the members of its target audience (segment "
               f"{canvas.target_segment.name if canvas.target_segment_id else 'and filters'}) "
               "enter; the others are counted as not eligible."]
              if canvas_has_target(canvas=canvas) else []),
            *(["Its re-entry rule and entry caps apply."]
              if canvas.reentry != Reentry.AFTER_EXIT or canvas.cap_per_day or canvas.cap_total
              else []),
        ],
        button="Enter all profiles", cancel_url=reverse("canvas:detail", args=[canvas.pk]),
    )


def step_remove(*, canvas: Canvas, step: Step) -> Confirmation:
    number = list(canvas.steps.order_by("position").values_list("pk", flat=True)).index(step.pk) + 1
    what = step_type(step.kind).describe(step=step)
    described = f"step {number} ({step.get_kind_display()}{' · ' + what if what else ''})"
    return Confirmation(
        title=f"Remove step {number} from {canvas.name}?",
        consequences=[
            f"Remove {described} from canvas {canvas.name}: its settings are lost.",
            "The steps after it move up one place.",
        ],
        button="Remove step", cancel_url=reverse("canvas:detail", args=[canvas.pk]),
    )


def audience_delete(*, audience: Audience) -> Confirmation:
    account = audience.ad_account
    partner = registry.get(account.connection.partner)
    return Confirmation(
        title=f"Delete audience {audience.name} at {partner.name}?",
        consequences=[
            f"Delete audience {audience.name} at {partner.name}: it is deleted at the "
            "partner and cannot be undone.",
            f"Campaigns at {partner.name} that target it lose it; ad account "
            f"{account.name} keeps its other audiences.",
        ],
        button=f"Delete at {partner.name}",
        cancel_url=reverse("canvas:audiences", args=[account.pk]),
        action_url=reverse("canvas:audience_delete", args=[account.pk, audience.pk]),
    )
