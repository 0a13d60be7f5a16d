"""Who is in each audience, and what each audience received.

A member is a key: for TikTok the row's non-empty ids joined in id_schema order with their
types, for Pinterest the record string. Counts are users (rows or records), so a duplicate
add (a member already present, or twice in one request) shows in ``duplicate_receipts``.

Members are looked up by an 8-byte digest of their key rather than by the ~230-character
key itself: the unique index stays small, so a 10,000-user batch inserts several times
faster, while the key is stored beside it for reading. (Two different keys of one audience
sharing a digest is a 1 in 10^12 event at a million members.)
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence

Member = tuple[bytes, str]


def member_entries(keys: Iterable[str]) -> list[Member]:
    """(digest, key) pairs; computed before the write lock is taken."""
    return [(hashlib.blake2b(key.encode(), digest_size=8).digest(), key) for key in keys]


def members_add(
    db: sqlite3.Connection, *, audience_pk: int, members: Sequence[Member], now: float
) -> None:
    inserted = db.executemany(
        "INSERT OR IGNORE INTO members (audience_pk, digest, member) VALUES (?, ?, ?)",
        ((audience_pk, digest, key) for digest, key in members),
    ).rowcount
    db.execute(
        "UPDATE audiences SET received_add = received_add + ?,"
        " duplicate_receipts = duplicate_receipts + ?, present = present + ?,"
        " num_batches = num_batches + 1, updated_at = ? WHERE pk = ?",
        (len(members), len(members) - inserted, inserted, now, audience_pk),
    )


def members_remove(
    db: sqlite3.Connection, *, audience_pk: int, members: Sequence[Member], now: float
) -> None:
    removed = db.executemany(
        "DELETE FROM members WHERE audience_pk = ? AND digest = ?",
        ((audience_pk, digest) for digest, _key in members),
    ).rowcount
    db.execute(
        "UPDATE audiences SET received_remove = received_remove + ?, present = present - ?,"
        " num_batches = num_batches + 1, updated_at = ? WHERE pk = ?",
        (len(members), removed, now, audience_pk),
    )
