"""The sandbox's controls and its record: what tests, benchmarks and operators use to steer
the emulated partners and to check from the outside what the product sent them.

The JSON endpoint (``control_views``) and the ``sandbox`` command both call these.
"""

from __future__ import annotations

import time

from . import gate, oauth, store, world
from .world import PARTNERS, TIKTOK


class ControlError(Exception):
    """A control was asked something it cannot do; the message says what."""


def _partner(partner: object) -> str:
    if partner not in PARTNERS:
        raise ControlError(f"partner must be one of: {', '.join(PARTNERS)}.")
    return partner


def state_reset() -> None:
    """Forget everything: tokens, audiences created, members, counters, faults, limit changes."""
    with store.write() as db:
        store.state_clear(db)
        world.world_seed_if_empty(db)


def tokens_revoke(
    *, token: str | None = None, partner: str | None = None, whole_grant: bool = False
) -> int:
    """Revoke one token (or all of its grant's), or every token of a partner; how many died."""
    if (token is None) == (partner is None):
        raise ControlError("Give either a token or a partner.")
    if partner is not None:
        _partner(partner)
    with store.write() as db:
        return oauth.tokens_revoke(
            db, token=token, partner=partner, whole_grant=whole_grant, now=time.time()
        )


def audience_delete(*, partner: str, audience_id: str) -> None:
    """Delete an audience (a Pinterest customer list) as if its owner did it at the partner."""
    _partner(partner)
    with store.write() as db:
        deleted = db.execute(
            "UPDATE audiences SET deleted_at = ? WHERE partner = ? AND audience_id = ?"
            " AND deleted_at IS NULL",
            (time.time(), partner, str(audience_id)),
        ).rowcount
    if not deleted:
        raise ControlError(f"No live {partner} audience has the id {audience_id}.")


def faults_set(
    *,
    partner: str,
    error_share: float = 0.0,
    timeout_share: float = 0.0,
    timeout_seconds: float = 0.0,
    not_editable_share: float = 0.0,
    storm_seconds: float = 0.0,
    seed: int = 0,
) -> gate.Faults:
    """Replace a partner's faults (what is not given is off) and restart the seeded draws."""
    _partner(partner)
    shares = (error_share, timeout_share, not_editable_share)
    if any(not 0 <= share <= 1 for share in shares) or sum(shares) > 1:
        raise ControlError("Fault shares must be between 0 and 1 and add up to at most 1.")
    if not_editable_share and partner != TIKTOK:
        raise ControlError("not_editable_share is a TikTok fault (its 40002 answer).")
    if timeout_seconds < 0 or storm_seconds < 0:
        raise ControlError("timeout_seconds and storm_seconds cannot be negative.")
    faults = gate.Faults(
        error_share=error_share,
        timeout_share=timeout_share,
        timeout_seconds=timeout_seconds,
        not_editable_share=not_editable_share,
        storm_until=time.time() + storm_seconds if storm_seconds else 0.0,
        seed=seed,
    )
    with store.write() as db:
        gate.faults_replace(db, partner=partner, faults=faults)
    return faults


def limits_set(*, enabled: bool | None = None, **values: float) -> gate.Limits:
    """Switch every limit on or off, and/or change some (names as in ``gate.LIMIT_KNOBS``)."""
    unknown = set(values) - set(gate.LIMIT_KNOBS)
    if unknown:
        raise ControlError(
            f"Unknown limits: {', '.join(sorted(unknown))}. Known: {', '.join(gate.LIMIT_KNOBS)}."
        )
    if any(value <= 0 for value in values.values()):
        raise ControlError("Limits must be positive (switch them off with enabled=false).")
    changes = dict(values)
    if enabled is not None:
        changes["enabled"] = bool(enabled)
    with store.write() as db:
        return gate.limits_override(db, **changes)


def status_read() -> dict:
    """The limits and faults in force."""
    with store.read() as db:
        limits = gate.limits_current(db)
        faults = {partner: gate.faults_current(db, partner=partner) for partner in PARTNERS}
    now = time.time()
    return {
        "limits": vars(limits),
        "faults": {
            partner: {
                "error_share": fault.error_share,
                "timeout_share": fault.timeout_share,
                "timeout_seconds": fault.timeout_seconds,
                "not_editable_share": fault.not_editable_share,
                "storm_seconds_left": max(0.0, fault.storm_until - now),
                "seed": fault.seed,
                "draws": fault.draws,
            }
            for partner, fault in faults.items()
        },
    }


RECORD_COUNTERS = ("requests", "rate_limited_responses", "oversize_rejections", "injected_faults")


def record_read() -> dict:
    """What the partners received: per audience and in total (counts are users).

    The business's pre-existing audiences are listed once they received users or were deleted.
    """
    with store.read() as db:
        audiences = [
            {
                "partner": row["partner"],
                "ad_account_id": row["ad_account_id"],
                "audience_id": row["audience_id"],
                "name": row["name"],
                "audience_type": row["audience_type"],
                "received_add": row["received_add"],
                "received_remove": row["received_remove"],
                "duplicate_receipts": row["duplicate_receipts"],
                "present": row["present"],
                "deleted": row["deleted_at"] is not None,
            }
            for row in db.execute(
                "SELECT * FROM audiences WHERE NOT preexisting OR num_batches > 0"
                " OR deleted_at IS NOT NULL ORDER BY partner DESC, pk"
            )
        ]
        placeholders = ", ".join("?" * len(RECORD_COUNTERS))
        counters = dict(
            db.execute(
                f"SELECT name, value FROM counters WHERE name IN ({placeholders})",
                RECORD_COUNTERS,
            ).fetchall()
        )
        peaks = {
            scope: float(arrivals)
            for scope, arrivals in db.execute("SELECT scope, arrivals FROM peaks ORDER BY scope")
        }
    return {
        "audiences": audiences,
        "requests": counters.get("requests", 0),
        "duplicate_receipts": sum(audience["duplicate_receipts"] for audience in audiences),
        "rate_limited_responses": counters.get("rate_limited_responses", 0),
        "oversize_rejections": counters.get("oversize_rejections", 0),
        "injected_faults": counters.get("injected_faults", 0),
        "max_requests_per_s": peaks,
    }


def members_read(*, partner: str, audience_id: str) -> list[str]:
    """The member keys now in an audience (a Pinterest customer list), sorted."""
    _partner(partner)
    with store.read() as db:
        audience = db.execute(
            "SELECT pk FROM audiences WHERE partner = ? AND audience_id = ?",
            (partner, str(audience_id)),
        ).fetchone()
        if audience is None:
            raise ControlError(f"No {partner} audience has the id {audience_id}.")
        return [
            member
            for (member,) in db.execute(
                "SELECT member FROM members WHERE audience_pk = ? ORDER BY member",
                (audience["pk"],),
            )
        ]
