"""No input answers 5xx: a hypothesis walk over every URL pattern of the product's own apps.

The URL patterns are read from the URLconf, so a page added later is walked too (Django
admin, allauth and the partner sandbox are not the product's pages). Before the walk, an
owner's client crawls the product's pages from the home page: the links and forms it finds
give each pattern real path values (ids of this test's own objects, actions such as
``launch`` or ``use-existing``) and the names and values of the fields its forms send.

Each pattern gets 30 examples. The first 12 are a fixed sweep: each poison value (NUL,
U+D7FF, a 30-digit number, 5,000 characters, ...) goes into the fields of every form, sent
to the pages the form was found on. The other 18 are generated: one request, as the owner or
as a member, by GET, POST or another method, with:

- path values that are real, or generated (huge numbers, other workspaces' ids, odd text);
- the fields the pattern's forms declare plus garbage keys, with real or generated values
  (NUL, U+D7FF, U+FFFF, very long text, 30-digit numbers, empty), an uploaded file for a
  file field;
- or a JSON body (the entries API's shape among others), with generated Authorization,
  Idempotency-Key and Transfer-Encoding headers.

Any 5xx fails the walk. Each example runs in a savepoint that is rolled back, so every
example starts from the same objects. Partner calls go to a real sandbox process.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import IntConverter
from django.urls.exceptions import Resolver404
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audiencesync.proofs.sandbox import start_sandbox, workspace_connect
from audiencesync.workspaces.apikeys import api_key_create, api_key_revoke
from audiencesync.workspaces.fields import USER_FIELDS
from audiencesync.workspaces.models import Role
from audiencesync.workspaces.services import member_invite
from canvas.models import Canvas, CanvasStatus, StepKind
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from tests import builders
from tests.factories import MembershipFactory, ProfileFactory

pytestmark = pytest.mark.django_db

# Generated examples; the sweep below adds 12 fixed ones to each endpoint.
EXAMPLES_PER_ENDPOINT = 18
# The partners' side, served for development and tests; not the product's pages.
NOT_THE_PRODUCT = ("partners.sandbox",)
CRAWL_LIMIT = 150

ODD_TEXT = [
    "", " ", "\x00", "a\x00b", "\ud7ff", "abc\ud7ff", "\uffff", "\U0010ffff", "\ufeff",
    "\u202e", "é", "😀", "9" * 30, "-" + "9" * 30, str(2**63), str(2**63 - 1), str(2**31),
    "-1", "0", "1e400", "NaN", "x" * 5000, "local-" + "9" * 30, "local-", "local-x",
    "<script>", "%00", "../..", "null", "true", "[]", "{}",
]
text_values = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(max_size=40),  # any character but surrogates, NUL included
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False), text_values,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


# --- discovery ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """One URL pattern: its route pieces (text and converters, outermost first)."""

    label: str
    pieces: tuple  # of str (literal text) or (parameter name, converter)
    route: str
    callback: object

    def path(self, values: dict[str, str]) -> str:
        parts = [piece if isinstance(piece, str) else values[piece[0]] for piece in self.pieces]
        return "/" + "".join(parts)

    @property
    def parameters(self) -> list[tuple[str, object]]:
        return [piece for piece in self.pieces if not isinstance(piece, str)]


_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _route_pieces(pattern) -> list:
    """Literal text and (name, converter) pairs of one route, or of a regex's named groups."""
    if hasattr(pattern, "_route"):
        pieces, position = [], 0
        for match in _PARAMETER.finditer(pattern._route):
            pieces.append(pattern._route[position:match.start()])
            pieces.append((match["name"], pattern.converters[match["name"]]))
            position = match.end()
        pieces.append(pattern._route[position:])
        return [p for p in pieces if p != ""]
    regex = pattern._regex.lstrip("^").rstrip("$").removesuffix("\\Z")
    return [(f"regex:{regex}", _RegexConverter(regex))]


@dataclass(frozen=True)
class _RegexConverter:
    regex: str


def _is_product_view(callback) -> bool:
    """A view written in this repository (not in a dependency), and not the sandbox's."""
    if callback.__module__.startswith(NOT_THE_PRODUCT):
        return False
    source = getattr(sys.modules.get(callback.__module__), "__file__", None)
    root = Path(settings.BASE_DIR).resolve()
    if source is None or not Path(source).resolve().is_relative_to(root):
        return False
    top = Path(source).resolve().relative_to(root).parts[0]
    return not top.startswith(".") and top != "tests"  # .venv holds the dependencies


def product_endpoints(resolver: URLResolver | None = None, prefix: tuple = (),
                      route: str = "", namespace: str = "") -> list[Endpoint]:
    """Every URL pattern whose view is the product's own, from the URLconf."""
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        pieces = (*prefix, *_route_pieces(pattern.pattern))
        # As Django's ResolverMatch.route spells it, to recognise a resolved path.
        full_route = route + str(pattern.pattern).removeprefix("^") if route \
            else str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += product_endpoints(pattern, pieces, full_route, inner)
        elif isinstance(pattern, URLPattern) and _is_product_view(pattern.callback):
            found.append(Endpoint(label=f"{namespace}{pattern.name}" if pattern.name
                                  else full_route, pieces=tuple(pieces), route=full_route,
                                  callback=pattern.callback))
    return found


def endpoint_of(path: str, endpoints: list[Endpoint]) -> Endpoint | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return next((endpoint for endpoint in endpoints
                 if endpoint.callback is match.func and endpoint.route == match.route), None)


# --- what a crawl of the owner's pages finds ----------------------------------------------

# Inputs whose value the page chooses (an action, an id); the others are typed by the user.
CHOICE_INPUTS = {"hidden", "radio", "checkbox", "submit", "button", "select"}


@dataclass(frozen=True)
class Form:
    """One form as a page renders it: its method, its fields with their kind and values."""

    method: str
    fields: tuple  # of (name, input type, values)
    files: tuple  # names of file inputs


@dataclass
class Harvest:
    """Per endpoint: the real path values seen and the forms that send to it."""

    path_values: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    # endpoint -> form -> the path values of each page it was found on
    forms: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "form":
            self._form = {"action": attrs.get("action") or "", "method":
                          (attrs.get("method") or "get").lower(), "fields": {}, "files": set()}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "button", "textarea", "select"):
            name = attrs.get("name")
            if not name or name == "csrfmiddlewaretoken":  # the walk's client skips CSRF
                return
            kind = attrs.get("type", "text") if tag == "input" else tag
            if kind == "file":
                self._form["files"].add(name)
                return
            _kind, values = self._form["fields"].setdefault(name, (kind, set()))
            if tag != "select":
                values.add(attrs.get("value") or "")
            else:
                self._select = name
        elif tag == "option" and self._form is not None and self._select:
            self._form["fields"][self._select][1].add(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def crawl(client: Client, endpoints: list[Endpoint], starts: list[str]) -> Harvest:
    harvest = Harvest()
    seen, queue = set(), list(starts)
    while queue and len(seen) < CRAWL_LIMIT:
        url = queue.pop(0)
        path = urlsplit(url).path
        endpoint = endpoint_of(path, endpoints)
        if url in seen or endpoint is None:
            continue
        seen.add(url)
        _remember_path(harvest, endpoint, path)
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        page = _PageParser()
        page.feed(response.content.decode())
        for link in page.links:
            target = urlsplit(urljoin(url, link))
            if not target.netloc:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
        for form in page.forms:
            target_path = urlsplit(urljoin(url, form["action"])).path
            target = endpoint_of(target_path, endpoints)
            if target is None:
                continue
            _remember_path(harvest, target, target_path)
            found = Form(
                method=form["method"].upper(), files=tuple(sorted(form["files"])),
                fields=tuple((name, kind, tuple(sorted(values)))
                             for name, (kind, values) in sorted(form["fields"].items())),
            )
            origin = {name: str(value) for name, value in resolve(target_path).kwargs.items()}
            if origin not in harvest.forms[target][found]:
                harvest.forms[target][found].append(origin)
    return harvest


def _remember_path(harvest: Harvest, endpoint: Endpoint, path: str) -> None:
    for name, value in resolve(path).kwargs.items():
        harvest.path_values[endpoint][name].add(str(value))


# --- the objects the walk works on --------------------------------------------------------

@dataclass
class World:
    owner: object
    member: object
    api_secrets: list[str]
    ids: list[int]
    sandbox: object

    def reconnect(self) -> None:
        """Fresh partner tokens: a walked Disconnect revokes them at the partner, which no
        rollback here undoes."""
        for key in ("tiktok", "pinterest"):
            workspace_connect(sandbox=self.sandbox, workspace=self.owner.workspace,
                              partner_key=key)


@pytest.fixture
def sandbox(tmp_path, settings):
    box = start_sandbox(tmp_path)
    settings.TIKTOK_API_BASE_URL = box.tiktok_api
    settings.TIKTOK_AUTHORIZE_URL = f"{box.url}/portal/auth"
    settings.PINTEREST_API_BASE_URL = f"{box.url}/v5/"
    settings.PINTEREST_AUTHORIZE_URL = f"{box.url}/oauth/"
    settings.PARTNER_HTTP_TIMEOUT = 10
    yield box
    box.processes.stop()


@pytest.fixture
def world(sandbox, owner) -> World:
    """A workspace connected to both partners, with canvases in every state, profiles, keys,
    an invitation; a member; and another workspace whose ids must stay out of reach."""
    workspace = owner.workspace
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER)
    MembershipFactory(user=owner.user, role=Role.MEMBER)  # a second workspace to switch to
    accounts = {key: workspace_connect(sandbox=sandbox, workspace=workspace, partner_key=key)
                .ad_accounts.filter(selected=True).order_by("pk").first()
                for key in ("tiktok", "pinterest")}
    audience = builders.audience(accounts["tiktok"], external_id="1001", name="Listed")

    draft = canvas_services.canvas_create(workspace=workspace, name="Draft", user=owner.user)
    ready = canvas_services.step_add(canvas=draft, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(step=ready, partner_key="tiktok",
                                     ad_account_id=accounts["tiktok"].pk,
                                     audience_id=audience.pk, action="add",
                                     match_fields=["email"], respect_ad_tracking=True)
    no_account = canvas_services.step_add(canvas=draft, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(step=no_account, partner_key="pinterest",
                                     ad_account_id=None, audience_id=None, action="add",
                                     match_fields=[], respect_ad_tracking=True)
    canvas_services.step_add(canvas=draft, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_add(canvas=draft, kind=StepKind.DELAY)

    active = builders.active_canvas(workspace, name="Active")
    builders.sync_step(active, account=accounts["tiktok"], target=audience)
    builders.delay_step(active, seconds=3600)
    canvas_enter_users(canvas=active, users=builders.users(3))
    Canvas.objects.create(workspace=workspace, name="Stopped", status=CanvasStatus.STOPPED)

    ProfileFactory(workspace=workspace, external_id="odd-é-😀", phone="+14155550123")
    live = api_key_create(workspace=workspace, name="Walk")
    revoked = api_key_create(workspace=workspace, name="Old")
    api_key_revoke(workspace=workspace, key_id=revoked.api_key.pk)
    member_invite(actor=owner, email="invited@example.com", role=Role.MEMBER)

    stranger = MembershipFactory(role=Role.OWNER)
    theirs = builders.active_canvas(stranger.workspace, name="Theirs")
    builders.delay_step(theirs)
    ProfileFactory(workspace=stranger.workspace)
    other_key = api_key_create(workspace=stranger.workspace, name="Theirs")

    ids = sorted({pk for model in apps.get_models()
                  if model._meta.app_label in ("canvas", "partners", "workspaces", "accounts")
                  for pk in model.objects.values_list("pk", flat=True)[:50]
                  if isinstance(pk, int)})
    return World(owner=owner, member=member, ids=ids, sandbox=sandbox,
                 api_secrets=[live.secret, revoked.secret, other_key.secret])


def _client(membership) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(membership.user)
    session = client.session
    session["workspace_id"] = membership.workspace_id
    session.save()
    return client


# --- what one example sends ---------------------------------------------------------------

def path_values(endpoint: Endpoint, harvest: Harvest, world: World):
    values = {}
    for name, converter in endpoint.parameters:
        real = sorted(harvest.path_values[endpoint][name])
        if isinstance(converter, IntConverter):
            generated = st.one_of(st.sampled_from(world.ids),
                                  st.integers(min_value=0, max_value=10**30)).map(str)
        elif isinstance(converter, _RegexConverter):
            generated = st.from_regex(converter.regex, fullmatch=True)
        else:
            generated = st.from_regex(converter.regex, fullmatch=True) | st.sampled_from(
                sorted({v for per_name in harvest.path_values.values()
                        for v in per_name.get(name, ())}) or ["x"])
        strategy = st.sampled_from(real) | generated if real else generated
        values[name] = strategy.map(lambda v: quote(v, safe=""))
    return st.fixed_dictionaries(values)


def form_fields(form: Form | None):
    """Each field of the form left out, or sent with a real or generated value (sometimes
    two); plus a few garbage fields."""
    chosen = {}
    for name, _kind, real in form.fields if form else ():
        value = st.sampled_from(real) | text_values if real else text_values
        chosen[name] = st.one_of(st.none(), value, value, st.lists(value, min_size=2, max_size=3))
    garbage = st.dictionaries(st.text(min_size=1, max_size=12) | st.sampled_from(ODD_TEXT[1:]),
                              text_values, max_size=3)
    return st.tuples(st.fixed_dictionaries(chosen), garbage).map(
        lambda parts: {**parts[1], **{k: v for k, v in parts[0].items() if v is not None}})


def form_requests(endpoint: Endpoint, harvest: Harvest):
    forms = sorted(harvest.forms[endpoint], key=repr) or [None]

    def for_form(form):
        return st.fixed_dictionaries({
            "kind": st.just("form"),
            "method": st.sampled_from([form.method, "GET", "POST"]) if form
            else st.sampled_from(["GET", "POST"]),
            "fields": form_fields(form),
            "files": st.fixed_dictionaries({
                name: st.binary(max_size=200) | text_values.map(lambda t: t.encode())
                for name in (form.files if form else ())}),
        })

    return st.sampled_from(forms).flatmap(for_form)


users_bodies = st.fixed_dictionaries({"users": st.lists(
    st.dictionaries(st.sampled_from(USER_FIELDS) | st.text(max_size=8), json_scalars,
                    max_size=len(USER_FIELDS)) | json_values, max_size=4)})


def json_requests(world: World):
    authorization = st.one_of(
        st.sampled_from([f"Bearer {s}" for s in world.api_secrets]), st.just(None),
        text_values, text_values.map(lambda t: f"Bearer {t}"),
    )
    body = st.one_of(users_bodies.map(_json_bytes), json_values.map(_json_bytes),
                     st.binary(max_size=100), st.just(b""))
    return st.fixed_dictionaries({
        "kind": st.just("json"),
        "method": st.sampled_from(["POST", "POST", "GET", "PUT"]),
        "body": body,
        "authorization": authorization,
        "idempotency_key": st.none() | text_values,
        "content_type": st.sampled_from(["application/json", "text/plain", "",
                                         "application/x-www-form-urlencoded"]) | text_values,
        "chunked": st.booleans(),
    })


def _speaks_json(endpoint: Endpoint) -> bool:
    """An API endpoint: no session, no CSRF token; it is sent JSON bodies first."""
    return getattr(endpoint.callback, "csrf_exempt", False)


def request_shapes(endpoint: Endpoint, harvest: Harvest, world: World):
    forms, api = form_requests(endpoint, harvest), json_requests(world)
    shape = st.one_of(api, api, forms) if _speaks_json(endpoint) else st.one_of(forms, forms, api)
    return st.tuples(st.sampled_from(["owner", "member"]), path_values(endpoint, harvest, world),
                     shape).map(lambda parts: (parts[0], [(parts[1], parts[2])]))


# The sweep: each of these goes into the fields of every form of every endpoint, sent to the
# pages the form was found on: first into the typed fields only (the page's own choices kept),
# then into every field but the hidden one naming what the form does.
POISONS = ["a\x00b", "abc\ud7ff", "9" * 30, "x" * 5000, "\U0010ffff\uffff\u202e", "-" + "9" * 30]
ORIGINS_PER_FORM = 3


def sweep(endpoint: Endpoint, harvest: Harvest, world: World) -> list[tuple]:
    examples = []
    for index in range(2 * len(POISONS)):
        poison, choices_too = POISONS[index % len(POISONS)], index >= len(POISONS)
        requests = []
        for form in sorted(harvest.forms[endpoint], key=repr) or [None]:
            origins = harvest.forms[endpoint].get(form) or [{}]
            for turn in range(min(ORIGINS_PER_FORM, len(origins))):
                origin = origins[(index + turn) % len(origins)]
                values = {}
                for name, _converter in endpoint.parameters:
                    real = sorted(harvest.path_values[endpoint][name]) or [str(world.ids[0])]
                    values[name] = quote(origin.get(name, real[index % len(real)]), safe="")
                requests.append((values, _poisoned(endpoint, form, poison, choices_too, index,
                                                   world)))
        examples.append(("owner", requests))
    return examples


def _poisoned(endpoint, form, poison: str, choices_too: bool, index: int, world: World) -> dict:
    if _speaks_json(endpoint):
        user = {name: poison for name in USER_FIELDS}
        return {"kind": "json", "method": "POST", "body": _json_bytes({"users": [user]}),
                "authorization": f"Bearer {poison}" if choices_too
                else f"Bearer {world.api_secrets[0]}",
                "idempotency_key": poison if choices_too else f"sweep-{index}",
                "content_type": "application/json", "chunked": choices_too}
    fields = {}
    for name, kind, real in form.fields if form else ():
        names_the_action = kind == "hidden" and len(real) == 1
        if kind not in CHOICE_INPUTS or (choices_too and not names_the_action):
            fields[name] = poison
        elif real:
            fields[name] = real[index % len(real)]
    fields.setdefault("q", poison)
    return {"kind": "form", "method": form.method if form else "GET", "fields": fields,
            "files": {name: poison.encode() for name in (form.files if form else ())}}


def _json_bytes(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()  # orjson refuses 30-digit numbers


def send(client: Client, path: str, shape: dict):
    if shape["kind"] == "form":
        if shape["method"] == "GET":
            return client.get(path, shape["fields"])
        data = dict(shape["fields"])
        for name, content in shape["files"].items():
            data[name] = SimpleUploadedFile("walk.csv", content, content_type="text/csv")
        return client.post(path, data)
    headers = {}
    if shape["authorization"] is not None:
        headers["HTTP_AUTHORIZATION"] = shape["authorization"]
    if shape["idempotency_key"] is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = shape["idempotency_key"]
    if shape["chunked"]:
        headers.update({"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": "",
                        "wsgi.input": io.BytesIO(shape["body"]), "wsgi.input_terminated": True})
    return client.generic(shape["method"], path, shape["body"],
                          content_type=shape["content_type"], **headers)


# --- the walk -----------------------------------------------------------------------------

def test_the_url_patterns_are_discovered_from_the_urlconf():
    labels = {endpoint.label for endpoint in product_endpoints()}
    assert {"canvas:step", "api_canvas_entries", "profile_list", "workspace_switch",
            "partners:callback"} <= labels
    assert not any(label.startswith(("admin:", "account_", "sandbox")) for label in labels)


def test_no_input_answers_a_server_error(world):
    endpoints = product_endpoints()
    assert endpoints, "The URLconf has no page of the product's own apps to walk."
    clients = {"owner": _client(world.owner), "member": _client(world.member)}
    starts = ["/"] + [e.path({}) for e in endpoints if not e.parameters]
    harvest = crawl(clients["owner"], endpoints, starts)
    assert harvest.forms, "The crawl found no form: the walk would post nothing real."

    failures, examples = [], defaultdict(int)
    for endpoint in endpoints:
        walk = _walker(endpoint, request_shapes(endpoint, harvest, world), clients, examples)
        for request in sweep(endpoint, harvest, world):
            walk = example(request)(walk)
        try:
            walk()
        except AssertionError as error:
            failures.append(f"{endpoint.label}: {error}\n" + "\n".join(
                getattr(error, "__notes__", [])))
        world.reconnect()

    assert not failures, "\n\n".join(failures)
    too_few = {label: n for label, n in examples.items() if n < 20}
    assert not too_few, f"fewer than 20 examples: {too_few}"
    assert set(examples) == {e.label for e in endpoints}


def _walker(endpoint: Endpoint, shapes, clients: dict[str, Client], examples: dict):
    @hypothesis_settings(max_examples=EXAMPLES_PER_ENDPOINT, derandomize=True, deadline=None,
                         database=None, suppress_health_check=list(HealthCheck),
                         print_blob=False,
                         # A failure is reported as found: shrinking it costs minutes.
                         phases=[Phase.explicit, Phase.generate])
    @given(shapes)
    def walk(request):
        role, requests = request
        examples[endpoint.label] += 1
        for values, shape in requests:
            path = endpoint.path(values)
            with transaction.atomic():
                response = send(clients[role], path, shape)
                transaction.set_rollback(True)
            assert response.status_code < 500, (
                f"{role} {shape['method']} {path} {_sent(shape)} {_explain(response)}")

    return walk


def _sent(shape: dict) -> str:
    sent = shape.get("fields") if shape["kind"] == "form" else {
        k: shape[k] for k in ("authorization", "idempotency_key", "chunked")}
    return repr(sent)[:300]


def _explain(response) -> str:
    text = f"answered {response.status_code}"
    if getattr(response, "exc_info", None):
        error = response.exc_info[1]
        frame = response.exc_info[2]
        while frame.tb_next is not None:
            frame = frame.tb_next
        text += (f": {type(error).__name__}: {str(error)[:300]} "
                 f"(at {frame.tb_frame.f_code.co_filename}:{frame.tb_lineno})")
    return text
