"""A cookie-keeping HTTP client that reads HTML forms and submits them as a browser would.

The demo uses it to sign in, press Connect, approve a partner's consent page and choose
ad accounts through the same pages and redirects a person goes through, so it works
against any server that serves such forms (the sandbox or another one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    checkboxes: list[tuple[str, str, bool]] = field(default_factory=list)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # name, value, text

    def has_button(self, text: str) -> bool:
        wanted = text.lower()
        return any(wanted in (value.lower(), label.lower()) for _, value, label in self.buttons)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []
        self._button: list | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                form.buttons.append((a.get("name", ""), a.get("value", ""), a.get("value", "")))
            elif kind in ("checkbox", "radio"):
                form.checkboxes.append((a.get("name", ""), a.get("value", "on"), "checked" in a))
            elif "name" in a and "disabled" not in a:
                form.fields.append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._button = [a.get("name", ""), a.get("value", ""), ""]
        elif tag == "select" and "name" in a:
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            form.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea" and "name" in a:
            form.fields.append((a["name"], ""))

    def handle_data(self, data):
        if self._button is not None:
            self._button[2] += data.strip()

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None and self.forms:
            self.forms[-1].buttons.append(tuple(self._button))
            self._button = None
        elif tag == "select":
            self._select = None


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class FormNotFound(Exception):
    pass


class Browser:
    def __init__(self, *, timeout: float = 30.0):
        self.session = requests.Session()
        self.timeout = timeout

    def get(self, url: str) -> requests.Response:
        response = self.session.get(url, timeout=self.timeout)
        response.raise_for_status()
        return response

    def submit(
        self, page: requests.Response, *, button: str, fill: dict[str, str] | None = None,
        check_all: str | None = None, follow_redirects: bool = True,
    ) -> requests.Response:
        """Submit the form of ``page`` that has a button labelled ``button`` (or with that value).

        ``fill`` sets fields by name; ``check_all`` ticks every checkbox of that name.
        """
        form = next((f for f in forms_of(page.text) if f.has_button(button)), None)
        if form is None:
            raise FormNotFound(f"No form with a {button!r} button at {page.url}.")
        data = [(k, v) for k, v in form.fields if not fill or k not in fill]
        data += list((fill or {}).items())
        for name, value, checked in form.checkboxes:
            if checked or name == check_all:
                data.append((name, value))
        name, value, _ = next(b for b in form.buttons
                              if button.lower() in (b[1].lower(), b[2].lower()))
        if name:
            data.append((name, value))
        url = urljoin(page.url, form.action or page.url)
        headers = {"Referer": page.url}
        if form.method == "post":
            response = self.session.post(url, data=data, headers=headers, timeout=self.timeout,
                                         allow_redirects=follow_redirects)
        else:
            response = self.session.get(url, params=data, headers=headers, timeout=self.timeout,
                                        allow_redirects=follow_redirects)
        response.raise_for_status()
        return response
