"""The track API: ``POST /api/v1/users/track``, profile attributes and custom events.

The data is written by the ground floor (``audiencesync.workspaces.track``); this layer
holds the API's contract, shared with the entries API: the workspace's Bearer keys, the
Idempotency-Key, 400/401/413 and per-item errors. The events it accepts reach canvases
through the ground floor's events-accepted hook (``exits.events_exit``, registered in
canvas/apps.py), in the call's transaction.
"""

from __future__ import annotations

from audiencesync.workspaces.models import ApiKey
from audiencesync.workspaces.track import track_payload_parse, track_write

from .entries_api import (
    EntriesAnswer,
    api_answer_stored,
    api_call_idempotent,
    idempotency_key_check,
)

# 10,000 events of at most 4 KB of properties each, and 10,000 attribute items, with room.
MAX_BODY_BYTES = 64 * 1024 * 1024


def users_track_submit(*, api_key: ApiKey, body: bytes, idempotency_key: str = ""
                       ) -> EntriesAnswer:
    """Write a track call's attributes and events for the key's workspace.

    Idempotent by ``idempotency_key`` like the entries API. ServiceError codes:
    ``invalid``, ``too_large``.
    """
    idempotency_key_check(idempotency_key=idempotency_key)
    if stored := api_answer_stored(api_key=api_key, idempotency_key=idempotency_key):
        return stored
    payload = track_payload_parse(body=body)
    return api_call_idempotent(
        api_key=api_key, idempotency_key=idempotency_key,
        write=lambda: track_write(workspace=api_key.workspace, payload=payload).as_dict())
