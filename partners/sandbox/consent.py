"""The partners' consent pages, as a browser (or the product's demo, parsing the form like
one) sees them: the fictional business, its ad accounts, the app asking, and a form whose
Confirm or Cancel sends the user back to the app's redirect_uri.

The form posts to the page's own path, so it is right whether the sandbox is mounted under
the product or served standalone at the root.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_http_methods

from . import conf, oauth, store, tiktok, world
from .web import page, sandbox_view
from .world import PINTEREST, TIKTOK

TIKTOK_BRAND = ("TikTok For Business", "#fe2c55")
PINTEREST_BRAND = ("Pinterest", "#e60023")
TIKTOK_PERMISSIONS = ["Audience management: create audiences and add or remove their users"]
PINTEREST_SCOPE_LABELS = {
    "ads:read": "See your ad accounts, audiences and customer lists",
    "ads:write": "Create and change audiences and customer lists",
}


def _redirect_uri_refusal(uri: str, *, registered: list[str]) -> str | None:
    """Why the consent page may not send the user to ``uri`` (None: it may). Like the real
    partners, only a redirect_uri registered for the app: anything else would hand the code
    to whoever wrote the link."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "redirect_uri must be an absolute http(s) URL."
    if uri not in registered:
        return f"The redirect_uri {uri!r} is not registered for this app."
    return None


def _with_query(uri: str, **params: str) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _error_page(brand: tuple[str, str], message: str) -> HttpResponse:
    return page("sandbox/consent_error.html", {"brand": brand[0], "message": message}, status=400)


def _consent_page(
    request, *, brand: tuple[str, str], app_id: str, accounts: list[dict],
    permissions: list[str], hidden: dict[str, str],
) -> HttpResponse:
    return page("sandbox/consent.html", {
        "brand": brand[0],
        "accent": brand[1],
        "business": world.BUSINESS_NAME,
        "app_id": app_id,
        "accounts": accounts,
        "permissions": permissions,
        "redirect_uri": hidden["redirect_uri"],
        "hidden": list(hidden.items()),
        "action": request.path,
    })


@sandbox_view
@require_http_methods(["GET", "POST"])
def tiktok_consent(request) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    app_id = params.get("app_id", "")
    redirect_uri = params.get("redirect_uri", "")
    state = params.get("state", "")
    if app_id != conf.tiktok_app_id():
        return _error_page(TIKTOK_BRAND, f"No TikTok For Business app has the id {app_id!r}.")
    refusal = _redirect_uri_refusal(redirect_uri, registered=conf.tiktok_redirect_uris())
    if refusal is not None:
        return _error_page(TIKTOK_BRAND, refusal)
    if request.method == "GET":
        accounts = [{"id": key, "name": name} for key, name in world.TIKTOK_ADVERTISERS.items()]
        return _consent_page(
            request, brand=TIKTOK_BRAND, app_id=app_id, accounts=accounts,
            permissions=TIKTOK_PERMISSIONS,
            hidden={"app_id": app_id, "redirect_uri": redirect_uri, "state": state},
        )
    decision = request.POST.get("decision")
    if decision == "cancel":
        return HttpResponseRedirect(_with_query(redirect_uri, error="access_denied", state=state))
    if decision != "confirm":
        return _error_page(TIKTOK_BRAND, "Choose Confirm or Cancel.")
    now = time.time()
    with store.write() as db:
        grant_id = oauth.grant_create(
            db, partner=TIKTOK, client_id=app_id, rate_scope=tiktok.RATE_SCOPE,
            scopes=",".join(map(str, tiktok.TOKEN_SCOPES)), redirect_uri=redirect_uri, now=now,
        )
        code = oauth.code_issue(db, grant_id=grant_id, now=now)
    return HttpResponseRedirect(_with_query(redirect_uri, auth_code=code, state=state))


@sandbox_view
@require_http_methods(["GET", "POST"])
def pinterest_consent(request) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    scopes = [scope.strip() for scope in params.get("scope", "").split(",") if scope.strip()]
    state = params.get("state", "")
    if client_id != conf.pinterest_client_id():
        return _error_page(PINTEREST_BRAND, f"No Pinterest app has the client id {client_id!r}.")
    if params.get("response_type") != "code":
        return _error_page(PINTEREST_BRAND, "response_type must be code.")
    refusal = _redirect_uri_refusal(redirect_uri, registered=conf.pinterest_redirect_uris())
    if refusal is not None:
        return _error_page(PINTEREST_BRAND, refusal)
    if not scopes:
        return _error_page(PINTEREST_BRAND, "scope is required (for example ads:read,ads:write).")
    if request.method == "GET":
        accounts = [
            {"id": key, "name": name}
            for key, (name, _country, _currency) in world.PINTEREST_AD_ACCOUNTS.items()
        ]
        return _consent_page(
            request, brand=PINTEREST_BRAND, app_id=client_id, accounts=accounts,
            permissions=[PINTEREST_SCOPE_LABELS.get(scope, scope) for scope in scopes],
            hidden={
                "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
                "scope": ",".join(scopes), "state": state,
            },
        )
    decision = request.POST.get("decision")
    if decision == "cancel":
        return HttpResponseRedirect(_with_query(redirect_uri, error="access_denied", state=state))
    if decision != "confirm":
        return _error_page(PINTEREST_BRAND, "Choose Confirm or Cancel.")
    now = time.time()
    with store.write() as db:
        # Every approval is a new Pinterest user, with a request budget of its own.
        user_number = store.sequence_next(db, "pinterest_user", start=1)
        grant_id = oauth.grant_create(
            db, partner=PINTEREST, client_id=client_id, rate_scope=f"pinterest:user-{user_number}",
            scopes=",".join(scopes), redirect_uri=redirect_uri, now=now,
        )
        code = oauth.code_issue(db, grant_id=grant_id, now=now)
    return HttpResponseRedirect(_with_query(redirect_uri, code=code, state=state))
