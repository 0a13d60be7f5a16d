"""The controls over HTTP, under ``__sandbox__/``: one JSON endpoint for actions, plain GETs
for the record, the status and an audience's members. No authentication: the sandbox is a
development tool and holds nothing real."""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from . import control
from .web import json_response, sandbox_view


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


@sandbox_view
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


@sandbox_view
@require_GET
def record(request) -> HttpResponse:
    return json_response(control.record_read())


@sandbox_view
@require_GET
def status(request) -> HttpResponse:
    return json_response(control.status_read())


@sandbox_view
@require_GET
def audience_members(request, partner: str, audience_id: str) -> HttpResponse:
    try:
        keys = control.members_read(partner=partner, audience_id=audience_id)
    except control.ControlError as error:
        return json_response({"error": str(error)}, status=404)
    return json_response({"members": keys})
