"""What every partner API call passes before it is served: counting, rate limits and faults.

Rate limits hold over a sliding one-second window: a call is refused when the scope already
had ``rate`` calls accepted in the second before it arrived. A scope may also count its
accepted calls per calendar minute and per UTC day (TikTok's app tiers): a call past a
spent one is refused until the next minute or day begins. Arrivals (accepted or not) are
kept apart so the record can show the busiest second each scope saw.

Faults are drawn from a seeded sequence kept in the state (seed, draw number), so the same
seed gives the same faults in the same order whichever process serves the call.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from dataclasses import dataclass

import orjson

from . import conf, store

WINDOW_S = 1.0

RATE_LIMITED = "rate_limited"
# A spent counted window: RATE_LIMITED_IN + "minute" / "day".
RATE_LIMITED_IN = "rate_limited_per_"
STORM = "storm"
SYSTEM_ERROR = "system_error"
NOT_EDITABLE = "not_editable"

LIMIT_OVERRIDES_KEY = "limit_overrides"


@dataclass(frozen=True)
class Limits:
    enabled: bool
    tiktok_rate: float
    tiktok_rate_per_min: int
    tiktok_rate_per_day: int
    tiktok_max_rows: int
    tiktok_max_audiences: int
    pinterest_rate: float
    pinterest_max_records: int


LIMIT_KNOBS = {
    "tiktok_rate": "SANDBOX_TIKTOK_RATE",
    "tiktok_rate_per_min": "SANDBOX_TIKTOK_RATE_PER_MIN",
    "tiktok_rate_per_day": "SANDBOX_TIKTOK_RATE_PER_DAY",
    "tiktok_max_rows": "SANDBOX_TIKTOK_MAX_ROWS",
    "tiktok_max_audiences": "SANDBOX_TIKTOK_MAX_AUDIENCES",
    "pinterest_rate": "SANDBOX_PINTEREST_RATE",
    "pinterest_max_records": "SANDBOX_PINTEREST_MAX_RECORDS",
}


def limits_current(db: sqlite3.Connection) -> Limits:
    """The configured limits, with whatever the controls changed at run time on top."""
    overrides = orjson.loads(store.meta_get(db, LIMIT_OVERRIDES_KEY) or "{}")
    configured = {field: conf.knob(name) for field, name in LIMIT_KNOBS.items()}
    return Limits(**{"enabled": True, **configured, **overrides})


def limits_override(db: sqlite3.Connection, **changes) -> Limits:
    overrides = orjson.loads(store.meta_get(db, LIMIT_OVERRIDES_KEY) or "{}")
    overrides.update(changes)
    store.meta_set(db, LIMIT_OVERRIDES_KEY, orjson.dumps(overrides).decode())
    return limits_current(db)


@dataclass(frozen=True)
class CountedWindow:
    """``allowed`` accepted calls per calendar ``length`` seconds (from the epoch: UTC days)."""

    name: str
    length: float
    allowed: int


def _window_spent(db: sqlite3.Connection, scope: str, windows: list[CountedWindow],
                  now: float) -> str | None:
    for window in windows:
        row = db.execute("SELECT period, accepted FROM window_counts WHERE scope = ? AND window = ?",
                         (scope, window.name)).fetchone()
        if row is not None and row[0] == int(now // window.length) and row[1] >= window.allowed:
            return window.name
    return None


def _windows_count(db: sqlite3.Connection, scope: str, windows: list[CountedWindow],
                   now: float) -> None:
    for window in windows:
        period = int(now // window.length)
        db.execute(
            "INSERT INTO window_counts (scope, window, period, accepted) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (scope, window) DO UPDATE SET"
            " accepted = CASE WHEN period = excluded.period THEN accepted + 1 ELSE 1 END,"
            " period = excluded.period",
            (scope, window.name, period))


@dataclass(frozen=True)
class Faults:
    error_share: float = 0.0
    timeout_share: float = 0.0
    timeout_seconds: float = 0.0
    not_editable_share: float = 0.0
    storm_until: float = 0.0
    seed: int = 0
    draws: int = 0

    @property
    def any_share(self) -> bool:
        return self.error_share + self.timeout_share + self.not_editable_share > 0


def faults_current(db: sqlite3.Connection, *, partner: str) -> Faults:
    row = db.execute("SELECT * FROM faults WHERE partner = ?", (partner,)).fetchone()
    if row is None:
        return Faults()
    return Faults(**{name: row[name] for name in Faults.__dataclass_fields__})


def faults_replace(db: sqlite3.Connection, *, partner: str, faults: Faults) -> None:
    fields = dataclasses.asdict(faults)
    db.execute(
        f"INSERT OR REPLACE INTO faults (partner, {', '.join(fields)})"
        f" VALUES (?{', ?' * len(fields)})",
        (partner, *fields.values()),
    )


@dataclass(frozen=True)
class Verdict:
    """``refusal`` names why the call is refused (None: serve it), after ``delay`` seconds."""

    refusal: str | None = None
    delay: float = 0.0


def request_arrived(db: sqlite3.Connection) -> None:
    store.counter_add(db, "requests")


def request_admit(
    db: sqlite3.Connection,
    *,
    partner: str,
    rate_scope: str,
    rate: float,
    limits_enabled: bool,
    upload: bool,
    now: float,
    windows: list[CountedWindow] = (),
) -> Verdict:
    """Count an authenticated call against its scope's window; refuse it or let it through."""
    db.execute("DELETE FROM arrivals WHERE scope = ? AND at <= ?", (rate_scope, now - WINDOW_S))
    arrivals, accepted = db.execute(
        "SELECT count(*), total(accepted) FROM arrivals WHERE scope = ?", (rate_scope,)
    ).fetchone()
    db.execute(
        "INSERT INTO peaks (scope, arrivals) VALUES (?, ?)"
        " ON CONFLICT (scope) DO UPDATE SET arrivals = max(arrivals, excluded.arrivals)",
        (rate_scope, arrivals + 1),
    )
    faults = faults_current(db, partner=partner)
    refusal = None
    spent = _window_spent(db, rate_scope, list(windows), now) if limits_enabled else None
    if faults.storm_until > now:
        refusal = STORM
        store.counter_add(db, "injected_faults")
    elif spent is not None:
        refusal = RATE_LIMITED_IN + spent
        store.counter_add(db, "rate_limited_responses")
    elif limits_enabled and accepted >= rate:
        refusal = RATE_LIMITED
        store.counter_add(db, "rate_limited_responses")
    else:
        _windows_count(db, rate_scope, list(windows), now)
    db.execute(
        "INSERT INTO arrivals (scope, at, accepted) VALUES (?, ?, ?)",
        (rate_scope, now, refusal is None),
    )
    if refusal is not None:
        return Verdict(refusal=refusal)
    if upload and faults.any_share:
        return _fault_draw(db, partner=partner, faults=faults)
    return Verdict()


def _fault_draw(db: sqlite3.Connection, *, partner: str, faults: Faults) -> Verdict:
    db.execute("UPDATE faults SET draws = draws + 1 WHERE partner = ?", (partner,))
    draw = random.Random(f"{faults.seed}:{partner}:{faults.draws}").random()
    for share, verdict in (
        (faults.error_share, Verdict(refusal=SYSTEM_ERROR)),
        (faults.timeout_share, Verdict(delay=faults.timeout_seconds)),
        (faults.not_editable_share, Verdict(refusal=NOT_EDITABLE)),
    ):
        if draw < share:
            store.counter_add(db, "injected_faults")
            return verdict
        draw -= share
    return Verdict()
