"""What every sandbox view shares: the decorator that frees it from the product's middleware,
JSON answers (orjson) and the HTML pages (an engine of its own, so the product's template
settings and context processors never take part)."""

from __future__ import annotations

from pathlib import Path

import orjson
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.template import Context, Engine
from django.views.decorators.common import no_append_slash
from django.views.decorators.csrf import csrf_exempt

_pages = Engine(dirs=[str(Path(__file__).resolve().parent / "templates")], autoescape=True)


def sandbox_view(view):
    """Partners know no logins or CSRF tokens, and TikTok answers 404 (not a redirect) when the
    trailing slash is missing."""
    return login_not_required(csrf_exempt(no_append_slash(view)))


def json_response(payload, *, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def json_body(request) -> object:
    """The request's JSON body; raises orjson.JSONDecodeError (a ValueError) when it is not."""
    return orjson.loads(request.body)


def page(template: str, context: dict, *, status: int = 200) -> HttpResponse:
    return HttpResponse(_pages.get_template(template).render(Context(context)), status=status)
