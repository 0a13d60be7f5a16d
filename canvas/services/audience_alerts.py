"""An audience deleted at the partner: marked once, and its canvases' creators told once.

Whoever notices it (a send refused with "audience gone", or the periodic read not finding
it) calls ``audiences_gone``; the email goes from a background task after the change
commits, never from the sender loop, and only for the change from live to deleted.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django_q.tasks import async_task

from audiencesync.workspaces.models import MANAGING_ROLES, Membership
from canvas.models import Step, StepKind
from partners import registry
from partners.models import Audience, AudienceStatus

logger = logging.getLogger(__name__)


def audiences_gone(*, audience_ids: list[int]) -> list[int]:
    """Mark the audiences deleted at the partner; returns those that were not marked yet,
    each of which gets one alert once this transaction commits."""
    with transaction.atomic():
        changed = list(Audience.objects.select_for_update()
                       .filter(pk__in=audience_ids).exclude(status=AudienceStatus.DELETED)
                       .values_list("pk", flat=True))
        Audience.objects.filter(pk__in=changed).update(status=AudienceStatus.DELETED)
        for pk in changed:
            transaction.on_commit(
                lambda pk=pk: async_task("canvas.tasks.alert_audience_gone", pk))
    return changed


def audience_gone_alert(*, audience_id: int) -> int:
    """Email the creator of each canvas whose steps use the audience (the workspace's owners
    and admins when the creator left it); returns the emails sent."""
    audience = Audience.objects.select_related("ad_account__connection").get(pk=audience_id)
    partner = registry.get(audience.ad_account.connection.partner)
    workspace_id = audience.ad_account.connection.workspace_id
    steps = (Step.objects.filter(audience=audience, kind=StepKind.AUDIENCE_SYNC)
             .select_related("canvas__created_by", "canvas__workspace").order_by("canvas_id"))
    members = set(Membership.objects.filter(workspace_id=workspace_id)
                  .values_list("user_id", flat=True))
    managers = list(Membership.objects.filter(workspace_id=workspace_id, role__in=MANAGING_ROLES)
                    .values_list("user__email", flat=True))
    canvases_by_recipient: dict[str, dict[int, object]] = defaultdict(dict)
    for step in steps:
        creator = step.canvas.created_by
        recipients = ([creator.email] if creator is not None and creator.pk in members
                      else managers)
        for email in recipients:
            canvases_by_recipient[email][step.canvas_id] = step.canvas
    sent = 0
    for email, canvases in canvases_by_recipient.items():
        lines = [f"- {c.name} ({c.workspace}): {settings.SITE_URL}"
                 f"{reverse('canvas:detail', args=[c.pk])}" for c in canvases.values()]
        try:
            send_mail(
                subject=f"{partner.name} audience {audience.name} was deleted: canvases "
                        "cannot sync to it",
                message=(
                    f"The {partner.name} audience {audience.name} (id {audience.external_id} in "
                    f"ad account {audience.ad_account}) no longer exists at {partner.name}. "
                    "Users reaching the steps that sync to it are errored instead of synced.\n\n"
                    "Choose another audience for these steps, or create a new one:\n"
                    + "\n".join(lines) + "\n"
                ),
                from_email=None, recipient_list=[email],
            )
            sent += 1
        except Exception:  # the banner on the canvas says it too
            logger.exception("Could not email the deleted-audience alert to a recipient.")
    return sent
