"""Audiences listed at the partner, recorded here when a step picks one."""

import re

from audiencesync.errors import ServiceError
from canvas.models import Step, StepKind, SyncAction
from partners.base import AudienceInfo
from partners.models import AdAccount, Audience, AudienceStatus
from partners.services import partner_audiences_fetch

LOCAL_PREFIX = "local-"
_EXTERNAL_ID_MAX_LENGTH = Audience._meta.get_field("external_id").max_length


def audience_choose_for_step(*, ad_account: AdAccount | None, chosen: str) -> Audience:
    """The audience the step editor's "existing audience" list names: ``local-<id>`` for one
    created here, else a partner's audience id (recorded here on the way)."""
    if ad_account is None:
        raise ServiceError("Choose an ad account first.", field="ad_account")
    if chosen.startswith(LOCAL_PREFIX):
        local_id = chosen.removeprefix(LOCAL_PREFIX)
        audience = (ad_account.audiences.filter(pk=int(local_id)).first()
                    if local_id.isascii() and local_id.isdigit() else None)
        if audience is None:
            raise ServiceError("That audience is not in the ad account any more.",
                               field="audience")
        return audience
    return audience_pick_existing(ad_account=ad_account, external_id=chosen)


def audience_pick_existing(*, ad_account: AdAccount, external_id: str) -> Audience:
    """Record (or refresh) a partner-listed audience so a step can sync to it."""
    if len(external_id) > _EXTERNAL_ID_MAX_LENGTH or "\x00" in external_id:
        # No partner lists such an id, and the database could not even look it up.
        raise ServiceError("That audience is not in the ad account's list.", field="audience")
    known = Audience.objects.filter(ad_account=ad_account, external_id=external_id).first()
    if known is not None and known.created_here:
        return known
    listed = {a.id: a for a in partner_audiences_fetch(ad_account=ad_account)}
    info = listed.get(external_id)
    if info is None:
        raise ServiceError("That audience is not in the ad account's list any more.",
                           field="audience")
    if not info.syncable:
        raise ServiceError(info.reason or "Users cannot be synced to that audience.",
                           field="audience")
    audience, _ = Audience.objects.update_or_create(
        ad_account=ad_account, external_id=external_id, defaults={"name": info.name})
    return audience


def audience_fill_fields(*, audience: Audience) -> list[tuple[str, ...]]:
    """The sets of match fields the product fills the audience with: the fields it was
    created with, then those of every add step into it (any canvas). Empty: the product
    does not fill it (an audience filled elsewhere)."""
    found = [tuple(audience.match_fields)] if audience.match_fields else []
    for fields in (Step.objects.filter(audience=audience, action=SyncAction.ADD,
                                       kind=StepKind.AUDIENCE_SYNC)
                   .order_by("pk").values_list("match_fields", flat=True)):
        if fields and tuple(fields) not in found:
            found.append(tuple(fields))
    return found


def audience_name_unmarked(name: str) -> str:
    """The name the marketer typed, without the marker a creation here added."""
    return _CREATION_MARKER.sub("", name)


# The marker a creation adds to the name (``Partner.audience_name_marked``).
_CREATION_MARKER = re.compile(r" \([0-9a-f]{6}\)$")


def audience_names_taken(*, ad_account: AdAccount, listed: list[AudienceInfo],
                         retrying: Audience | None = None) -> set[str]:
    """The audience names of the ad account, folded for comparison, each also without the
    marker a creation here added: the names a new audience would repeat. A creation being
    retried (``retrying``, whatever the partner made of it) repeats nothing."""
    known = ad_account.audiences.exclude(status=AudienceStatus.DELETED)
    if retrying is not None:
        known = known.exclude(pk=retrying.pk)
        listed = [a for a in listed if a.name != retrying.name]
    names = [a.name for a in listed] + list(known.values_list("name", flat=True))
    return {variant.casefold() for name in names
            for variant in (name.strip(), _CREATION_MARKER.sub("", name.strip()))}
