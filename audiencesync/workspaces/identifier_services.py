"""Keep the identifiers stored on profiles (normalised value, SHA-256 or reason) in step
with their raw values.

Paths that write profiles in bulk (the import, entry) compute the stored columns with
``identifiers.stored_row`` in the same statement as the raw values; every other write
(an admin edit, a new default country, a path added later) calls
``profiles_identifiers_refresh`` after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction

from . import identifiers
from .models import Profile, Workspace

REFRESH_BATCH = 2_000


def profiles_identifiers_refresh(*, profile_ids: Iterable[int] | None = None,
                                 workspace: Workspace | None = None,
                                 fields: Sequence[str] = identifiers.FIELDS) -> int:
    """Recompute the stored ``fields`` of the profiles ``profile_ids``, or of every profile of
    ``workspace``; in batches, so memory stays flat. Returns how many profiles were read."""
    if (profile_ids is None) == (workspace is None):
        raise ValueError("Give either profile_ids or workspace.")
    if workspace is not None:
        profiles = Profile.objects.filter(workspace=workspace)
    else:
        profiles = Profile.objects.filter(pk__in=list(profile_ids))
    columns = [c for field in fields for c in identifiers.stored_columns(field)]
    done = 0
    last_pk = 0
    while True:
        batch = list(profiles.filter(pk__gt=last_pk).order_by("pk")
                     .only("pk", "workspace_id", *fields)[:REFRESH_BATCH])
        if not batch:
            return done
        countries = dict(Workspace.objects.filter(pk__in={p.workspace_id for p in batch})
                         .values_list("pk", "default_country"))
        for profile in batch:
            row = identifiers.stored_row(
                values={field: getattr(profile, field) for field in fields},
                default_country=countries[profile.workspace_id])
            for column, value in row.items():
                setattr(profile, column, value)
        with transaction.atomic():
            Profile.objects.bulk_update(batch, columns, batch_size=500)
        done += len(batch)
        last_pk = batch[-1].pk
