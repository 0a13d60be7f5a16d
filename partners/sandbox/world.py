"""The fictional business every sandbox consent grants access to, and what it already owns.

Besides what the product creates, each TikTok advertiser owns audiences made elsewhere: a
streaming partner audience (the only kind ``segment/mapping`` accepts) and two that are not
(a customer file and a lookalike), so the product's "existing audience" path and its refusal
of non-streaming audiences can both be exercised. Each Pinterest ad account owns one
customer list.
"""

from __future__ import annotations

import sqlite3
import time

from . import store

TIKTOK = "tiktok"
PINTEREST = "pinterest"
PARTNERS = (TIKTOK, PINTEREST)

BUSINESS_NAME = "Sandbox Coffee Co."

TIKTOK_ADVERTISERS = {
    "7300000000000000001": "Sandbox Coffee Co. - US",
    "7300000000000000002": "Sandbox Coffee Co. - EU",
    "7300000000000000003": "Sandbox Coffee Co. - Wholesale",
}
# TikTok's labels. Only a streaming ("Partner Audience") audience takes segment/mapping.
STREAMING_AUDIENCE_TYPE = "Partner Audience"
CUSTOMER_FILE_AUDIENCE_TYPE = "Customer File"
LOOKALIKE_AUDIENCE_TYPE = "Lookalike Audience"
TIKTOK_EXISTING_AUDIENCES = (
    ("Loyalty members (CDP feed)", STREAMING_AUDIENCE_TYPE),
    ("Newsletter export 2024 (uploaded file)", CUSTOMER_FILE_AUDIENCE_TYPE),
    ("Lookalike: loyalty members", LOOKALIKE_AUDIENCE_TYPE),
)
TIKTOK_FIRST_AUDIENCE_ID = 1001

PINTEREST_OWNER = {"username": "sandboxcoffee", "id": "1100000000000000001"}
PINTEREST_AD_ACCOUNTS = {
    "549700000001": ("Sandbox Coffee Co. US", "US", "USD"),
    "549700000002": ("Sandbox Coffee Co. UK", "GB", "GBP"),
    "549700000003": ("Sandbox Coffee Co. Germany", "DE", "EUR"),
}
PINTEREST_EXISTING_LISTS = (("Newsletter subscribers", "EMAIL"),)
PINTEREST_FIRST_LIST_ID = 2001
PINTEREST_FIRST_AUDIENCE_ID = 3001

SEEDED_KEY = "world_seeded_at"


def tiktok_audience_id_next(db: sqlite3.Connection) -> str:
    return str(store.sequence_next(db, "tiktok_audience", start=TIKTOK_FIRST_AUDIENCE_ID))


def pinterest_list_id_next(db: sqlite3.Connection) -> str:
    return str(store.sequence_next(db, "pinterest_list", start=PINTEREST_FIRST_LIST_ID))


def pinterest_audience_id_next(db: sqlite3.Connection) -> str:
    return str(store.sequence_next(db, "pinterest_audience", start=PINTEREST_FIRST_AUDIENCE_ID))


def audience_insert(
    db: sqlite3.Connection,
    *,
    partner: str,
    ad_account_id: str,
    audience_id: str,
    name: str,
    audience_type: str,
    now: float,
    preexisting: bool = False,
) -> int:
    return db.execute(
        "INSERT INTO audiences (partner, ad_account_id, audience_id, name, audience_type,"
        " preexisting, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (partner, ad_account_id, audience_id, name, audience_type, preexisting, now, now),
    ).lastrowid


def audiences_page(
    db: sqlite3.Connection, *, partner: str, ad_account_id: str, limit: int, offset: int,
    newest_first: bool = False,
) -> tuple[int, list[sqlite3.Row]]:
    """(how many audiences the ad account holds, one page of them)."""
    where = "partner = ? AND ad_account_id = ? AND deleted_at IS NULL"
    (total,) = db.execute(
        f"SELECT count(*) FROM audiences WHERE {where}", (partner, ad_account_id)
    ).fetchone()
    order = "pk DESC" if newest_first else "pk"
    rows = db.execute(
        f"SELECT * FROM audiences WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        (partner, ad_account_id, limit, offset),
    ).fetchall()
    return total, rows


def world_seed_if_empty(db: sqlite3.Connection) -> None:
    """Create the business's existing audiences once per state file (inside a write)."""
    if store.meta_get(db, SEEDED_KEY) is not None:
        return
    now = time.time()
    for advertiser_id in TIKTOK_ADVERTISERS:
        for name, audience_type in TIKTOK_EXISTING_AUDIENCES:
            audience_insert(
                db, partner=TIKTOK, ad_account_id=advertiser_id,
                audience_id=tiktok_audience_id_next(db), name=name,
                audience_type=audience_type, now=now, preexisting=True,
            )
    for ad_account_id in PINTEREST_AD_ACCOUNTS:
        for name, list_type in PINTEREST_EXISTING_LISTS:
            audience_insert(
                db, partner=PINTEREST, ad_account_id=ad_account_id,
                audience_id=pinterest_list_id_next(db), name=name, audience_type=list_type,
                now=now, preexisting=True,
            )
    store.meta_set(db, SEEDED_KEY, repr(now))
