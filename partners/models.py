from django.conf import settings
from django.db import models
from django.db.models import Q

from audiencesync.workspaces.models import Workspace

from . import registry
from .base import AudienceHealth
from .crypto import EncryptedTextField


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    INVALID = "invalid", "Token invalid"
    DISCONNECTED = "disconnected", "Disconnected"


class PartnerConnection(models.Model):
    """A workspace's grant at one partner; one serves every canvas of the workspace.

    Tokens are encrypted at rest; ``token_hint`` (last four characters) is all a page or
    the admin ever shows of them.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="connections")
    # The registry is the one partner list: adding a partner needs no migration.
    partner = models.CharField(max_length=20, choices=registry.choices)
    status = models.CharField(
        max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    token_hint = models.CharField(max_length=8, blank=True, default="")
    scope = models.CharField(max_length=255, blank=True, default="")
    token_obtained_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    invalid_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["workspace", "partner"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "partner"], name="connection_unique_partner")
        ]

    def __str__(self) -> str:
        return f"{self.get_partner_display()} · {self.workspace}"

    @property
    def is_active(self) -> bool:
        return self.status == ConnectionStatus.ACTIVE


class AdAccount(models.Model):
    """An advertiser (TikTok) or ad account (Pinterest) the connection reaches."""

    connection = models.ForeignKey(
        PartnerConnection, on_delete=models.CASCADE, related_name="ad_accounts"
    )
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    currency = models.CharField(max_length=8, blank=True, default="")
    country = models.CharField(max_length=8, blank=True, default="")
    selected = models.BooleanField(default=False)
    reachable = models.BooleanField(
        default=True, help_text="Listed by the partner at the last connect or refresh."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="ad_account_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class AudienceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    # A creation at the partner was started and its answer may not be recorded: a retry
    # looks for the audience by its name (which holds ``creation_marker``) before creating.
    CREATING = "creating", "Being created at the partner"
    # Pinterest: recorded here, created at the partner with its first users.
    AWAITING_FIRST_USERS = "awaiting_first_users", "Created with its first users"
    DELETED = "deleted", "Deleted at the partner"


class Audience(models.Model):
    """A custom audience at the partner, known here because it was created here or listed."""

    ad_account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="audiences")
    external_id = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=255)
    match_fields = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=30, choices=AudienceStatus.choices, default=AudienceStatus.ACTIVE
    )
    created_here = models.BooleanField(default=False)
    # Unique to the creation that made it here; part of its name at the partner.
    creation_marker = models.CharField(max_length=16, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # As the partner last told it (``audiences_health_read``): can it serve ads, its size
    # (None: not shown yet) and the partner's own figures, and when that was read.
    health = models.CharField(max_length=20, choices=AudienceHealth.choices, blank=True,
                              default="")
    size_at_partner = models.PositiveBigIntegerField(null=True, blank=True)
    health_detail = models.TextField(blank=True, default="")
    health_read_at = models.DateTimeField(null=True, blank=True)
    # A look-alike the product asked the partner to build from this one: it takes no users,
    # so it is never a sync target.
    lookalike_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="lookalikes")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["ad_account", "external_id"],
                condition=~Q(external_id=""),
                name="audience_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.name


class RateBucket(models.Model):
    """The shared sliding window of one rate-limit scope (when Redis is not configured)."""

    key = models.CharField(max_length=120, primary_key=True)
    hits = models.JSONField(default=list)
    per_second = models.JSONField(default=dict)
    blocked_until = models.FloatField(default=0.0)
    # The scope's minute and day budgets: {"day": ["day:20425", calls so far]}, the current
    # period only (a counter per window, not a log of its calls).
    counters = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.key
