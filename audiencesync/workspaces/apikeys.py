"""Workspace API keys: create (the secret is shown once), revoke, list, authenticate.

Only the SHA-256 of a key is stored, so a database leak gives no usable key; a key has
32 random bytes, so a fast hash is enough (nothing to brute-force, unlike a password)
and lets a call find its key with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from audiencesync.errors import ServiceError

from .models import ApiKey, Workspace

KEY_PREFIX = "as_"
# What pages and the admin show of a key: enough to tell keys apart, useless to a thief.
DISPLAY_PREFIX_LENGTH = 10
_KEY_FORMAT = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_-]{{32,100}}")
# last_used_at is written at most once a minute per key: busy senders would otherwise
# queue on that one row, and "last used" needs no finer grain.
_LAST_USED_PRECISION = timedelta(minutes=1)
_NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str  # the full key; exists only in this object, never stored


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, workspace: Workspace, name: str, created_by=None) -> CreatedApiKey:
    name = name.strip()
    if not name:
        raise ServiceError("Give the key a name, such as the system that will use it.",
                           field="name")
    if len(name) > _NAME_MAX_LENGTH:
        raise ServiceError(f"A key name has at most {_NAME_MAX_LENGTH} characters.",
                           field="name")
    if "\x00" in name:
        raise ServiceError("A key name cannot contain a NUL character.", field="name")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        workspace=workspace, name=name, prefix=secret[:DISPLAY_PREFIX_LENGTH],
        key_hash=api_key_hash(secret), created_by=created_by,
    )
    return CreatedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, workspace: Workspace, key_id: int | None) -> ApiKey:
    """Revoke one of the workspace's keys; revoking a revoked key changes nothing."""
    api_key = ApiKey.objects.filter(workspace=workspace, pk=key_id).first()
    if api_key is None:
        raise ServiceError("No such API key in this workspace.", code="not_found")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_keys_revoke(*, api_keys: QuerySet[ApiKey]) -> int:
    """Revoke every key of ``api_keys`` not yet revoked; returns how many were."""
    return api_keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_keys_for_workspace(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("created_by")


def api_key_authenticate(*, authorization: str) -> ApiKey:
    """The live key an ``Authorization`` header carries, with its workspace; two queries.

    ServiceError ``unauthorized`` says what is wrong with the header or the key.
    """
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if not authorization.strip():
        raise ServiceError("Send your workspace API key in the header "
                           "'Authorization: Bearer as_...'.", code="unauthorized")
    if scheme.lower() != "bearer" or not secret.startswith(KEY_PREFIX) or " " in secret:
        raise ServiceError("The Authorization header must be 'Bearer ' followed by a "
                           f"workspace API key, which starts with {KEY_PREFIX!r}.",
                           code="unauthorized")
    # A key of the right shape that is not a live key gets one answer, whether it never
    # existed or was revoked: the answer tells a guesser nothing.
    api_key = None
    if _KEY_FORMAT.fullmatch(secret):
        api_key = (ApiKey.objects.select_related("workspace")
                   .filter(key_hash=api_key_hash(secret), revoked_at__isnull=True).first())
    if api_key is None:
        raise ServiceError("This API key is unknown or was revoked. Copy the key again, or "
                           "create a new one on the workspace's API keys page.",
                           code="unauthorized")
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_PRECISION)
    ).update(last_used_at=now)
    return api_key
