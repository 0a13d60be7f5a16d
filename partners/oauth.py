"""One OAuth flow for every partner: a random state kept in the session, consumed on return."""

import secrets
import time

from django.conf import settings
from django.urls import reverse

from audiencesync.errors import ServiceError

from .base import Partner

SESSION_KEY = "partner_oauth"
STATE_MAX_AGE_S = 15 * 60


def redirect_uri(*, partner: Partner) -> str:
    """Fixed per partner and built from SITE_URL: it must match what the partner app allows."""
    return settings.SITE_URL + reverse("partners:callback", args=[partner.key])


def oauth_start(*, session, partner: Partner, workspace_id: int) -> str:
    state = secrets.token_urlsafe(32)
    session[SESSION_KEY] = {
        "state": state,
        "partner": partner.key,
        "workspace_id": workspace_id,
        "issued_at": time.time(),
    }
    return partner.authorize_url(state=state, redirect_uri=redirect_uri(partner=partner))


def oauth_finish(*, session, partner: Partner, workspace_id: int, params) -> str:
    """Check the callback against the session's state (once) and return the auth code."""
    pending = session.pop(SESSION_KEY, None)
    returned_state = params.get("state", "")
    if not pending or not returned_state:
        raise ServiceError(
            f"This {partner.name} sign-in was not started here or was already used: "
            "press Connect again."
        )
    if not secrets.compare_digest(str(pending["state"]), returned_state):
        raise ServiceError(f"The {partner.name} sign-in did not match this session: press Connect again.")
    if pending["partner"] != partner.key or pending["workspace_id"] != workspace_id:
        raise ServiceError(f"This {partner.name} sign-in was started for another workspace or partner.")
    if time.time() - pending["issued_at"] > STATE_MAX_AGE_S:
        raise ServiceError(f"The {partner.name} sign-in took too long: press Connect again.")
    if params.get("error"):
        raise ServiceError(f"{partner.name} access was not granted ({params['error']}).")
    code = params.get("auth_code") or params.get("code") or ""
    if not code:
        raise ServiceError(f"{partner.name} sent no authorisation code back.")
    return code
