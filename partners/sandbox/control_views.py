"""The controls over HTTP, under ``__sandbox__/``: one JSON endpoint for actions, plain GETs
for the record, the status and an audience's members.

They reset and revoke, and the record holds a hash of every user synced, so they answer only
a logged-in staff user (mounted in the product), a tool that sends the control token in the
``X-Sandbox-Token`` header, or, when the sandbox is served on its own, a caller on the same
machine."""

from __future__ import annotations

import functools
import hmac
import ipaddress

import orjson
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.http import require_GET, require_POST

from . import conf, control
from .web import json_response, sandbox_view

CONTROL_TOKEN_HEADER = "X-Sandbox-Token"
REFUSED = (
    "The sandbox's controls answer staff only, or a request with the control token in the "
    f"{CONTROL_TOKEN_HEADER} header."
)


def _token_sent(request) -> bool:
    token = conf.control_token()
    sent = request.headers.get(CONTROL_TOKEN_HEADER, "")
    return bool(token) and hmac.compare_digest(sent.encode(), token.encode())


def _from_loopback(request) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _staff_refusal(request) -> HttpResponse | None:
    """None for a staff session (its CSRF token checked, as for any form it posts); else the
    refusal."""
    user = getattr(request, "user", None)
    if not (getattr(user, "is_active", False) and getattr(user, "is_staff", False)):
        return json_response({"ok": False, "error": REFUSED}, status=403)
    return CsrfViewMiddleware(lambda _request: None).process_view(request, None, (), {})


def control_view(view):
    """A sandbox view that only staff, the token's holder or (standalone) a local caller sees."""

    @functools.wraps(view)
    def gated(request, *args, **kwargs):
        open_here = conf.controls_open_to_loopback() and _from_loopback(request)
        if not (open_here or _token_sent(request)):
            refusal = _staff_refusal(request)
            if refusal is not None:
                return refusal
        return view(request, *args, **kwargs)

    return sandbox_view(gated)


def _number(body: dict, name: str, default: float = 0.0) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise control.ControlError(f"{name} must be a number.")
    return value


def _reset(body: dict) -> dict:
    control.state_reset()
    return {}


def _revoke(body: dict) -> dict:
    revoked = control.tokens_revoke(
        token=body.get("token"), partner=body.get("partner"), whole_grant=bool(body.get("grant"))
    )
    return {"revoked": revoked}


def _delete_audience(body: dict) -> dict:
    control.audience_delete(partner=body.get("partner"), audience_id=str(body.get("audience_id")))
    return {}


def _faults(body: dict) -> dict:
    faults = control.faults_set(
        partner=body.get("partner"),
        error_share=_number(body, "error_share"),
        timeout_share=_number(body, "timeout_share"),
        timeout_seconds=_number(body, "timeout_seconds"),
        not_editable_share=_number(body, "not_editable_share"),
        storm_seconds=_number(body, "storm_seconds"),
        seed=int(_number(body, "seed")),
    )
    return {"faults": vars(faults)}


def _limits(body: dict) -> dict:
    values = {name: _number(body, name) for name in body if name not in ("action", "enabled")}
    enabled = body.get("enabled")
    limits = control.limits_set(enabled=None if enabled is None else bool(enabled), **values)
    return {"limits": vars(limits)}


def _record(body: dict) -> dict:
    return control.record_read()


ACTIONS = {
    "reset": _reset,
    "revoke": _revoke,
    "delete_audience": _delete_audience,
    "faults": _faults,
    "limits": _limits,
    "record": _record,
}


@control_view
@require_POST
def control_action(request) -> HttpResponse:
    try:
        body = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError:
        return json_response({"ok": False, "error": "The body must be JSON."}, status=400)
    action = body.get("action") if isinstance(body, dict) else None
    if action not in ACTIONS:
        return json_response(
            {"ok": False, "error": f"action must be one of: {', '.join(ACTIONS)}."}, status=400
        )
    try:
        result = ACTIONS[action](body)
    except control.ControlError as error:
        return json_response({"ok": False, "error": str(error)}, status=400)
    return json_response({"ok": True, **result})


@control_view
@require_GET
def record(request) -> HttpResponse:
    return json_response(control.record_read())


@control_view
@require_GET
def status(request) -> HttpResponse:
    return json_response(control.status_read())


@control_view
@require_GET
def audience_members(request, partner: str, audience_id: str) -> HttpResponse:
    try:
        keys = control.members_read(partner=partner, audience_id=audience_id)
    except control.ControlError as error:
        return json_response({"error": str(error)}, status=404)
    return json_response({"members": keys})
