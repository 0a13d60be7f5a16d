"""Actions that cannot be taken back ask first, all in the same way.

On the product's pages, such an action answers a GET, or a POST without ``confirmed``
(the form of an old page, a replayed request), with one page that says exactly what will
happen, a Cancel link back and a button that posts ``confirmed=yes``: only that POST acts.

In the admin, an action answers the changelist's POST with an intermediate page in the
admin's own style (Django's delete-selected pattern): the selected objects, and a form
that posts them again with ``post=yes``; only that second POST acts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import reverse

CONFIRMED_FIELD = "confirmed"
ADMIN_CONFIRMED_FIELD = "post"


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation page says and what its button posts."""

    title: str  # the question, e.g. "Stop canvas Spring retargeting?"
    consequences: Sequence[str]  # each thing that will happen, in words for the user
    button: str  # what the button does, e.g. "Stop canvas"
    cancel_url: str  # where Cancel goes back to
    fields: Mapping[str, object] = field(default_factory=dict)  # posted with the button
    action_url: str = ""  # where the button posts; the page itself when empty


def is_confirmed(request: HttpRequest) -> bool:
    """True only for the POST of a confirmation page's button."""
    return request.method == "POST" and request.POST.get(CONFIRMED_FIELD) == "yes"


def confirmation_page(request: HttpRequest, confirmation: Confirmation) -> HttpResponse:
    return render(request, "confirm.html", {
        "confirmation": confirmation,
        "action_url": confirmation.action_url or request.path,
        "confirmed_field": CONFIRMED_FIELD,
    })


def admin_is_confirmed(request: HttpRequest) -> bool:
    """True only for the POST of the admin's intermediate confirmation page."""
    return request.POST.get(ADMIN_CONFIRMED_FIELD) == "yes"


def admin_confirmation_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, objects: Iterable, *, title: str,
    consequences: Sequence[str], button: str,
) -> TemplateResponse:
    """The page an admin action returns instead of acting, until it is confirmed."""
    objects = list(objects)
    opts = model_admin.model._meta
    return TemplateResponse(request, "admin/confirm_action.html", {
        **model_admin.admin_site.each_context(request),
        "title": title, "consequences": consequences, "button": button,
        "objects": objects, "opts": opts, "action": request.POST.get("action", ""),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "confirmed_field": ADMIN_CONFIRMED_FIELD,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist",
                                  current_app=model_admin.admin_site.name),
    })
