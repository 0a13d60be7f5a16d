"""Grants, authorization codes and tokens, the same bookkeeping for both partners.

A grant is one consent approval. Its ``rate_scope`` names whose request budget its tokens
spend, whatever the token in hand: TikTok limits the app, Pinterest each user.
"""

from __future__ import annotations

import secrets
import sqlite3

AUTH_CODE_LIFETIME_S = 3600
ACCESS = "access"
REFRESH = "refresh"


def grant_create(
    db: sqlite3.Connection,
    *,
    partner: str,
    client_id: str,
    rate_scope: str,
    scopes: str,
    redirect_uri: str,
    now: float,
) -> int:
    return db.execute(
        "INSERT INTO grants (partner, client_id, rate_scope, scopes, redirect_uri, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (partner, client_id, rate_scope, scopes, redirect_uri, now),
    ).lastrowid


def code_issue(db: sqlite3.Connection, *, grant_id: int, now: float) -> str:
    code = secrets.token_hex(20)
    db.execute(
        "INSERT INTO codes (code, grant_id, created_at) VALUES (?, ?, ?)", (code, grant_id, now)
    )
    return code


def code_redeem(
    db: sqlite3.Connection, *, partner: str, code: str, now: float
) -> sqlite3.Row | None:
    """The grant behind an unused, unexpired code of this partner, using the code up; else None."""
    grant = db.execute(
        "SELECT grants.* FROM codes JOIN grants ON grants.id = codes.grant_id"
        " WHERE codes.code = ? AND grants.partner = ? AND codes.used_at IS NULL"
        " AND codes.created_at > ?",
        (code, partner, now - AUTH_CODE_LIFETIME_S),
    ).fetchone()
    if grant is not None:
        db.execute("UPDATE codes SET used_at = ? WHERE code = ?", (now, code))
    return grant


def token_issue(
    db: sqlite3.Connection,
    *,
    grant_id: int,
    kind: str,
    now: float,
    lifetime_s: float | None = None,
    prefix: str = "",
) -> str:
    token = prefix + secrets.token_hex(20)
    expires_at = None if lifetime_s is None else now + lifetime_s
    db.execute(
        "INSERT INTO tokens (token, grant_id, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (token, grant_id, kind, now, expires_at),
    )
    return token


def token_grant(
    db: sqlite3.Connection, *, partner: str, token: str, kind: str, now: float
) -> sqlite3.Row | None:
    """The grant of a live (known, unrevoked, unexpired) token of this partner and kind."""
    return db.execute(
        "SELECT grants.* FROM tokens JOIN grants ON grants.id = tokens.grant_id"
        " WHERE tokens.token = ? AND tokens.kind = ? AND grants.partner = ?"
        " AND tokens.revoked_at IS NULL AND (tokens.expires_at IS NULL OR tokens.expires_at > ?)",
        (token, kind, partner, now),
    ).fetchone()


def token_extend(db: sqlite3.Connection, *, token: str, lifetime_s: float, now: float) -> float:
    """Push a token's expiry to ``lifetime_s`` from now (Pinterest's continuous refresh)."""
    expires_at = now + lifetime_s
    db.execute("UPDATE tokens SET expires_at = ? WHERE token = ?", (expires_at, token))
    return expires_at


def tokens_revoke(
    db: sqlite3.Connection,
    *,
    now: float,
    token: str | None = None,
    partner: str | None = None,
    whole_grant: bool = False,
) -> int:
    """Revoke one token (or every token of its grant), or every token of a partner.

    Returns how many live tokens died.
    """
    if token is not None and whole_grant:
        where, params = "grant_id = (SELECT grant_id FROM tokens WHERE token = ?)", (token,)
    elif token is not None:
        where, params = "token = ?", (token,)
    else:
        where = "grant_id IN (SELECT id FROM grants WHERE partner = ?)"
        params = (partner,)
    return db.execute(
        f"UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND {where}", (now, *params)
    ).rowcount
