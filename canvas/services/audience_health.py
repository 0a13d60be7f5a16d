"""Size and health of the audiences that live steps fill, read back from the partners."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.selectors import audiences_to_read_back
from canvas.services.audience_alerts import audiences_gone
from partners.base import PartnerError
from partners.models import AdAccount, Audience
from partners.services import connection_call

logger = logging.getLogger(__name__)

# The part of a rate scope's budget the read may take: users being synced keep the rest.
READ_SHARE = 0.1
HEALTH_FIELDS = ["health", "size_at_partner", "health_detail", "health_read_at"]


@dataclass
class HealthRead:
    read: int = 0  # audiences whose state was read
    gone: list[int] = field(default_factory=list)  # audiences no longer at the partner
    skipped: list[str] = field(default_factory=list)  # ad accounts not read, and why


def audiences_health_read(*, now: datetime | None = None) -> HealthRead:
    """Read the size and health of every audience a step of an active canvas uses (and of
    the look-alikes made here), one
    partner read per ad account (a few calls), at most ``READ_SHARE`` of each scope's rate
    budget. An audience the partner no longer has is marked deleted."""
    now = now or timezone.now()
    by_account: dict[AdAccount, list[Audience]] = defaultdict(list)
    for audience in audiences_to_read_back().select_related("ad_account__connection"):
        by_account[audience.ad_account].append(audience)
    result = HealthRead()
    for account, audiences in by_account.items():
        try:
            states = connection_call(
                connection=account.connection, share=READ_SHARE,
                call=lambda partner, creds, account=account, audiences=audiences:
                    partner.audiences_state(credentials=creds, ad_account_id=account.external_id,
                                            audience_ids=[a.external_id for a in audiences]))
        except (ServiceError, PartnerError) as error:  # read again in half an hour
            result.skipped.append(f"{account}: {error.message}")
            logger.info("Audience health of %s not read: %s", account, error.message)
            continue
        read = []
        for audience in audiences:
            state = states.get(audience.external_id)
            if state is None:
                result.gone.append(audience.pk)
                continue
            audience.health, audience.size_at_partner = state.health, state.size
            audience.health_detail, audience.health_read_at = state.detail, now
            read.append(audience)
        Audience.objects.bulk_update(read, HEALTH_FIELDS)
        result.read += len(read)
    if result.gone:
        audiences_gone(audience_ids=result.gone)
    return result
