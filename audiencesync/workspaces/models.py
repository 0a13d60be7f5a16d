import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Workspace(models.Model):
    """The tenant: members, profiles, partner connections and canvases belong to one."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    default_country = models.CharField(
        max_length=2,
        default="US",
        help_text="ISO 3166 country used for phone numbers written without a country code.",
    )
    time_zone = models.CharField(
        max_length=64, default="UTC",
        help_text="IANA time zone in which scheduled canvases run (Europe/Paris, ...).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


MANAGING_ROLES = (Role.OWNER, Role.ADMIN)


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    # The workspace a new session of this person opens in is the one they used last.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["workspace", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGING_ROLES


def invitation_token_hash(token: str) -> str:
    """What is stored of an invitation link's token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class Invitation(models.Model):
    """An invitation by email: a link only the owner of that verified address can accept.

    The link carries a random token; only its SHA-256 is stored, so the table alone
    accepts nothing. Inviting the same address again replaces the token (the old link dies).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    token_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_unique_open_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace}"

    @property
    def status(self) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class ProfileQuerySet(models.QuerySet):
    def live(self) -> "ProfileQuerySet":
        """Profiles whose data was not erased: the ones pages list and canvases take."""
        return self.filter(erased_at__isnull=True)


class Profile(models.Model):
    """An end user of the brand: the person an Audience Sync step adds or removes."""

    # No index of its own: the unique (workspace, external_id) index serves workspace lookups.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="profiles",
                                  db_index=False)
    external_id = models.CharField(max_length=255)
    email = models.CharField(max_length=320, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    idfa = models.CharField("IDFA", max_length=64, blank=True, default="")
    gaid = models.CharField("GAID", max_length=64, blank=True, default="")
    ad_tracking_enabled = models.BooleanField(default=True)
    # Each identifier judged once, when it is written (see identifiers.stored_values): the
    # normalised value and its SHA-256, or blanks and the reason it is unusable. Entry
    # copies these; it never hashes.
    email_normalized = models.CharField(max_length=320, default="", editable=False)
    email_sha256 = models.CharField(max_length=64, default="", editable=False)
    email_reason = models.CharField(max_length=32, default="missing", editable=False)
    phone_normalized = models.CharField(max_length=64, default="", editable=False)
    phone_sha256 = models.CharField(max_length=64, default="", editable=False)
    phone_reason = models.CharField(max_length=32, default="missing", editable=False)
    idfa_normalized = models.CharField(max_length=64, default="", editable=False)
    idfa_sha256 = models.CharField(max_length=64, default="", editable=False)
    idfa_reason = models.CharField(max_length=32, default="missing", editable=False)
    gaid_normalized = models.CharField(max_length=64, default="", editable=False)
    gaid_sha256 = models.CharField(max_length=64, default="", editable=False)
    gaid_reason = models.CharField(max_length=32, default="missing", editable=False)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the person's data was erased: the blank row stays while removes from the
    # audiences still point at it, enters no canvas, and is deleted by the retention purge.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ProfileQuerySet.as_manager()

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], name="profile_unique_external_id"
            )
        ]
        # The profile search matches the normalised values. A scheduled canvas's run walks
        # a workspace's profiles in id order, a chunk at a time: (workspace, id) reads just
        # the chunk, however many other workspaces share the table.
        indexes = [models.Index(fields=["workspace", "id"], name="profile_workspace_id_idx"),
                   models.Index(fields=["workspace", "email_normalized"],
                                name="profile_email_idx"),
                   models.Index(fields=["workspace", "phone_normalized"],
                                name="profile_phone_idx")]

    def __str__(self) -> str:
        return self.external_id


class ApiKey(models.Model):
    """A workspace's key for the entries API; only its SHA-256 is stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AttributeType(models.TextChoices):
    STRING = "string", "String"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    DATETIME = "datetime", "Date-time"
    STRING_ARRAY = "string_array", "Array of strings"


class AttributeDefinition(models.Model):
    """A custom attribute in a workspace's catalogue: the first value seen fixed its type."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="attribute_definitions", db_index=False)
    name = models.CharField(max_length=64)
    type = models.CharField(max_length=16, choices=AttributeType.choices)
    first_seen = models.DateTimeField()
    # Counted by a periodic task (counting on every write would serialise the writers).
    profiles_with_it = models.PositiveIntegerField(default=0)
    counted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="attribute_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class Event(models.Model):
    """A named event a profile performed; purged after EVENT_RETENTION_DAYS, its summaries
    stay."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+",
                                  db_index=False)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events",
                                db_index=False)
    name = models.CharField(max_length=64)
    time = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-time"]
        indexes = [models.Index(fields=["profile", "-time"], name="event_profile_time_idx"),
                   models.Index(fields=["time"], name="event_time_idx")]

    def __str__(self) -> str:
        return f"{self.name} at {self.time:%Y-%m-%d %H:%M:%S}"


class EventSummary(models.Model):
    """All-time count and first and last time of one event name for one profile."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+",
                                  db_index=False)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="event_summaries",
                                db_index=False)
    name = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "name"], name="event_summary_unique")
        ]
        # Segments select profiles by event name; on PostgreSQL the index alone answers them.
        indexes = [models.Index(fields=["workspace", "name"], name="event_summary_name_idx",
                                include=["profile", "count", "last_at"])]


class EventDailyCount(models.Model):
    """How many times one profile performed one event on one (UTC) day."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+",
                                  db_index=False)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    name = models.CharField(max_length=64)
    day = models.DateField()
    count = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "name", "day"], name="event_daily_unique")
        ]
        # Segments sum a name's recent days per profile; on PostgreSQL the index alone answers.
        indexes = [models.Index(fields=["workspace", "name", "day"], name="event_daily_name_idx",
                                include=["profile", "count"])]
