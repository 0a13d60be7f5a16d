"""Builders for a workspace wired to partners, with canvases ready to take entries."""

from django.utils import timezone

from canvas.models import Canvas, CanvasStatus, Step, StepKind, SyncCursor
from partners.models import AdAccount, Audience, ConnectionStatus, PartnerConnection


def connected_account(workspace, *, partner="tiktok", external_id="7000000000000000001",
                      token="tok-abcdef123456"):
    connection, _ = PartnerConnection.objects.get_or_create(
        workspace=workspace, partner=partner,
        defaults={"status": ConnectionStatus.ACTIVE, "access_token": token,
                  "token_hint": token[-4:], "connected_at": timezone.now()},
    )
    account, _ = AdAccount.objects.get_or_create(
        connection=connection, external_id=external_id,
        defaults={"name": f"{partner} account", "selected": True},
    )
    return account


def audience(account, *, external_id="9001", name="High value", match_fields=("email",)):
    return Audience.objects.create(ad_account=account, external_id=external_id, name=name,
                                   match_fields=list(match_fields), created_here=True)


def sync_step(canvas, *, account, target, action="add", match_fields=("email", "phone"),
              respect_ad_tracking=True, position=None):
    step = Step.objects.create(
        canvas=canvas, kind=StepKind.AUDIENCE_SYNC, partner=account.connection.partner,
        ad_account=account, audience=target, action=action, match_fields=list(match_fields),
        respect_ad_tracking=respect_ad_tracking,
        position=canvas.steps.count() if position is None else position,
    )
    SyncCursor.objects.get_or_create(step=step)
    return step


def delay_step(canvas, *, seconds=5):
    return Step.objects.create(canvas=canvas, kind=StepKind.DELAY, delay_value=seconds,
                               delay_unit="seconds", position=canvas.steps.count())


def active_canvas(workspace, *, name="Spring retargeting"):
    return Canvas.objects.create(workspace=workspace, name=name, status=CanvasStatus.ACTIVE,
                                 launched_at=timezone.now())


def users(n, *, start=0, **extra):
    return [{"external_id": f"u{i}", "email": f"user{i}@example.com", **extra}
            for i in range(start, start + n)]
