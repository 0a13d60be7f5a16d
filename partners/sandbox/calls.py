"""One partner API call as every sandboxed partner serves it: authenticate, count, admit
(rate limits, faults, injected delays), then apply it in a savepoint. A partner module
supplies how it authenticates and how it words its answers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpResponse

from . import gate, store

# ``apply(db, limits, now)``: the call's effect; its answer's payload, or raises CallError.
Apply = Callable[[sqlite3.Connection, gate.Limits, float], dict]


class CallError(Exception):
    """The partner refuses the call; ``oversize``: for a batch over its size limit."""

    def __init__(self, message: str, *, oversize: bool = False):
        super().__init__(message)
        self.message = message
        self.oversize = oversize


@dataclass(frozen=True)
class Dialect:
    """How one partner authenticates a call and words its answers."""

    partner: str
    # (db, now) -> the token's grant, or the refusal to answer with.
    authenticate: Callable[[sqlite3.Connection, float], dict | HttpResponse]
    rate: Callable[[gate.Limits], float]
    refused: Callable[[str, gate.Limits], HttpResponse]  # (gate refusal, limits)
    failed: Callable[[CallError], HttpResponse]
    done: Callable[[dict], HttpResponse]
    # The scope's counted windows (minute, day), if the partner has any.
    windows: Callable[[gate.Limits], list[gate.CountedWindow]] = lambda limits: []


def call_serve(*, dialect: Dialect, apply: Apply, upload: bool = False) -> HttpResponse:
    """Serve one call; ``apply`` runs in the same transaction as the admission, or in a
    second one after an injected delay (never holding the lock while it waits)."""
    now = time.time()
    with store.write() as db:
        gate.request_arrived(db)
        grant = dialect.authenticate(db, now)
        if isinstance(grant, HttpResponse):
            return grant
        limits = gate.limits_current(db)
        verdict = gate.request_admit(
            db, partner=dialect.partner, rate_scope=grant["rate_scope"],
            rate=dialect.rate(limits), limits_enabled=limits.enabled, upload=upload, now=now,
            windows=dialect.windows(limits),
        )
        if verdict.refusal is not None:
            return dialect.refused(verdict.refusal, limits)
        if not verdict.delay:
            return _apply(db, dialect, apply, limits, now)
    time.sleep(verdict.delay)
    with store.write() as db:
        return _apply(db, dialect, apply, gate.limits_current(db), time.time())


def _apply(db: sqlite3.Connection, dialect: Dialect, apply: Apply, limits: gate.Limits,
           now: float) -> HttpResponse:
    try:
        with store.savepoint(db):
            payload = apply(db, limits, now)
    except CallError as error:
        if error.oversize:
            store.counter_add(db, "oversize_rejections")
        return dialect.failed(error)
    return dialect.done(payload)
