"""The entries API: validation of its payload (shared with CSV rows) and its idempotent entry.

One set of rules for both ways in, so a user the API rejects is rejected by
``enter_canvas --csv`` for the same reason. A user breaking a rule is rejected on their
own, with an error naming its place and field; the other users still enter. Only a
payload that cannot be read at all (malformed JSON, no ``users`` list) is refused whole.

Values are stored as sent, trimmed (as the profile import stores them): identifiers are
normalised and hashed into columns of their own as the profile is written, and a value a
partner cannot use makes the user "not synced" at the step, which is where the product
explains it, rather than an error here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction

from audiencesync.errors import ServiceError
from audiencesync.workspaces.fields import (
    AD_TRACKING,
    EXTERNAL_ID,
    MAX_LENGTH,
    USER_FIELDS,
    json_type,
    user_field_clean,
)
from audiencesync.workspaces.models import ApiKey
from canvas.models import Canvas, IdempotentResponse

from .entry import canvas_enter_users

# A user with every field at its longest is about 1 KB of JSON, 3 KB when non-ASCII text is
# escaped; this leaves room for 10,000 of them (ENTRIES_API_MAX_USERS by default) and
# refuses absurd bodies unread.
MAX_BODY_BYTES = 32 * 1024 * 1024

_FIELDS_TEXT = ", ".join(USER_FIELDS)
IDEMPOTENCY_KEY_MAX_LENGTH = IdempotentResponse._meta.get_field("key").max_length
# Visible ASCII only: what every HTTP stack carries unchanged, and what any database stores.
_IDEMPOTENCY_KEY = re.compile(rf"[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}")


@dataclass
class ValidatedUsers:
    """The users that passed (as dicts for ``canvas_enter_users``) and the errors of the rest."""

    users: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    rejected: int = 0


class UserValidator:
    """Checks users one at a time, remembering external ids to refuse a second occurrence.

    A second occurrence is refused rather than merged: which of two differing records
    should win is the sender's call, and the error tells them.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def clean(self, *, user: object, where: str) -> tuple[dict | None, list[tuple[str | None, str]]]:
        """(the user to enter, []) or (None, [(field, message), ...]); ``where`` names its place."""
        if not isinstance(user, dict):
            return None, [(None, f"Each user must be a JSON object, not {json_type(user)}.")]
        errors = [(name, f"Unknown field {name!r}; a user has {_FIELDS_TEXT}.")
                  for name in user if name not in USER_FIELDS]
        clean: dict = {}
        for name, value in user.items():
            if name == AD_TRACKING or name in MAX_LENGTH:
                value, message = user_field_clean(name, value)
                if message:
                    errors.append((name, message))
                else:
                    clean[name] = value
        if EXTERNAL_ID not in user:
            errors.append((EXTERNAL_ID, "Missing: every user needs an external_id."))
        elif EXTERNAL_ID in clean and not clean[EXTERNAL_ID]:
            errors.append((EXTERNAL_ID, "Blank: every user needs an external_id."))
        if errors:
            return None, errors
        first = self._seen.setdefault(clean[EXTERNAL_ID], where)
        if first != where:
            return None, [(EXTERNAL_ID, f"The same external_id is at {first} already; "
                           "send each user once.")]
        return clean, []


def users_validate(*, users: list) -> ValidatedUsers:
    """Validate the ``users`` list of one API call; errors name each user by its index."""
    validator = UserValidator()
    result = ValidatedUsers()
    for index, user in enumerate(users):
        clean, errors = validator.clean(user=user, where=f"index {index}")
        if clean is None:
            result.rejected += 1
            result.errors += [{"index": index, "field": name, "message": message}
                              for name, message in errors]
        else:
            result.users.append(clean)
    return result


def entries_payload_parse(*, body: bytes) -> ValidatedUsers:
    """Parse and validate an entries API body.

    ServiceError ``invalid`` when the body cannot be read as ``{"users": [...]}`` at all,
    ``too_large`` when it holds more than ENTRIES_API_MAX_USERS users.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ServiceError(
            f"The body is not valid JSON: {error.msg} at line {error.lineno}, column "
            f"{error.colno}.", code="invalid",
        ) from None
    if not isinstance(payload, dict):
        raise ServiceError(f'The body must be a JSON object {{"users": [...]}}, not '
                           f"{json_type(payload)}.", code="invalid")
    unknown = sorted(name for name in payload if name != "users")
    if unknown:
        raise ServiceError(f"Unknown top-level field(s) {', '.join(map(repr, unknown))}; the "
                           'body is {"users": [...]}.', code="invalid")
    if "users" not in payload:
        raise ServiceError('The body must have a "users" list.', code="invalid")
    users = payload["users"]
    if not isinstance(users, list):
        raise ServiceError(f'"users" must be a list of users, not {json_type(users)}.',
                           code="invalid")
    if len(users) > settings.ENTRIES_API_MAX_USERS:
        raise ServiceError(
            f"{len(users):,} users in one call; the most is {settings.ENTRIES_API_MAX_USERS:,}. "
            "Split them over several calls.", code="too_large",
        )
    return users_validate(users=users)


@dataclass(frozen=True)
class EntriesAnswer:
    status: int
    body: dict
    replayed: bool = False


def idempotency_key_check(*, idempotency_key: str) -> None:
    """ServiceError ``invalid`` unless the key is empty or 1-255 visible ASCII characters."""
    if idempotency_key and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ServiceError(f"The Idempotency-Key header must be 1 to "
                           f"{IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters (no spaces, "
                           f"control or non-ASCII characters); this one has "
                           f"{len(idempotency_key)} characters.", code="invalid")


def api_call_idempotent(*, api_key: ApiKey, idempotency_key: str,
                        write: Callable[[], dict]) -> EntriesAnswer:
    """Run ``write`` (which returns the answer's body) once per Idempotency-Key.

    The first successful answer is stored with the write, in its transaction, and any
    repeat of the key returns it and writes nothing, whatever the repeat's body (a key
    names one intended call). A failed call wrote nothing and stored nothing, so it can be
    retried with the same key. Keys are per API key, shared by every endpoint.
    """
    try:
        with transaction.atomic():
            answer = EntriesAnswer(status=200, body=write())
            if idempotency_key:
                IdempotentResponse.objects.create(api_key=api_key, key=idempotency_key,
                                                  status=answer.status, body=answer.body)
    except IntegrityError:
        # A concurrent call with the same key committed first (the unique constraint made
        # this insert wait for it): this call's work is rolled back and the first answer
        # is returned, as for any repeat.
        stored = api_answer_stored(api_key=api_key, idempotency_key=idempotency_key)
        if stored is None:
            raise
        return stored
    return answer


def canvas_entries_submit(
    *, api_key: ApiKey, canvas_id: int, body: bytes, idempotency_key: str = ""
) -> EntriesAnswer:
    """Enter the users of an entries API call into a canvas of the key's workspace.

    Idempotent by ``idempotency_key`` (see ``api_call_idempotent``).
    ServiceError codes: ``invalid``, ``too_large``, ``not_found``, ``conflict``.
    """
    idempotency_key_check(idempotency_key=idempotency_key)
    if stored := api_answer_stored(api_key=api_key, idempotency_key=idempotency_key):
        return stored
    # Another workspace's canvas is "not found" too: its existence is not this key's business.
    canvas = Canvas.objects.filter(pk=canvas_id, workspace_id=api_key.workspace_id).first()
    if canvas is None:
        raise ServiceError(f"No canvas {canvas_id} in this workspace.", code="not_found")
    validated = entries_payload_parse(body=body)

    def enter() -> dict:
        result = canvas_enter_users(canvas=canvas, users=validated.users)
        result.rejected += validated.rejected
        result.errors += validated.errors
        return result.as_dict()

    return api_call_idempotent(api_key=api_key, idempotency_key=idempotency_key, write=enter)


def api_answer_stored(*, api_key: ApiKey, idempotency_key: str) -> EntriesAnswer | None:
    """The stored first answer to this key, if any (none for an empty key)."""
    if not idempotency_key:
        return None
    stored = (IdempotentResponse.objects.filter(api_key=api_key, key=idempotency_key)
              .only("status", "body").first())
    if stored is None:
        return None
    return EntriesAnswer(status=stored.status, body=stored.body, replayed=True)
