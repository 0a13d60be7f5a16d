"""Audiences listed at the partner, recorded here when a step picks one."""

import re

from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.models import Step, StepKind, SyncAction
from partners import registry
from partners.base import AudienceInfo, LookalikeOption, PartnerError
from partners.models import AdAccount, Audience, AudienceStatus
from partners.services import connection_call, partner_audiences_fetch

LOCAL_PREFIX = "local-"
_EXTERNAL_ID_MAX_LENGTH = Audience._meta.get_field("external_id").max_length
_NAME_MAX_LENGTH = Audience._meta.get_field("name").max_length


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
        if audience.lookalike_of_id is not None:
            raise ServiceError("A look-alike takes no users: choose an audience the product "
                               "fills.", field="audience")
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


def lookalike_create(*, audience: Audience, name: str, options: dict[str, str],
                     user) -> Audience:
    """Ask the partner for a look-alike of an audience the product fills; record it here
    with the state the partner answers. A refusal (a seed too small...) is a ServiceError
    with the partner's words."""
    account = audience.ad_account
    partner = registry.get(account.connection.partner)
    if not partner.lookalike_options:
        raise ServiceError(f"{partner.name} makes no look-alike audiences here.")
    if (not audience.created_here or audience.lookalike_of_id is not None
            or audience.status != AudienceStatus.ACTIVE or not audience.external_id):
        raise ServiceError("A look-alike is made from an audience this product fills and that "
                           f"exists at {partner.name}.")
    name = name.strip()
    if not name:
        raise ServiceError("Give the look-alike a name.", field="name")
    if len(name) > _NAME_MAX_LENGTH:
        raise ServiceError(f"The name is longer than {_NAME_MAX_LENGTH} characters.",
                           field="name")
    chosen = {option.name: _lookalike_option(option, options.get(option.name))
              for option in partner.lookalike_options}
    try:
        state = connection_call(
            connection=account.connection,
            call=lambda p, creds: p.lookalike_create(
                credentials=creds, ad_account_id=account.external_id,
                seed_id=audience.external_id, name=name, options=chosen))
    except PartnerError as error:
        raise ServiceError(error.message) from error
    return Audience.objects.create(
        ad_account=account, external_id=state.id, name=name, created_here=True,
        created_by=user, lookalike_of=audience, status=AudienceStatus.ACTIVE,
        health=state.health, size_at_partner=state.size, health_detail=state.detail,
        health_read_at=timezone.now())


def _lookalike_option(option: LookalikeOption, value: str | None) -> str:
    value = (value or option.default).strip()
    if option.choices:
        if value not in dict(option.choices):
            raise ServiceError(f"{option.label}: choose one of "
                               f"{', '.join(label for _, label in option.choices)}.",
                               field=option.name)
        return value
    if not value.isdigit() or not option.low <= int(value) <= option.high:
        raise ServiceError(f"{option.label}: a whole number from {option.low} to "
                           f"{option.high}.", field=option.name)
    return value
