"""The headless demo: the whole product, started here, driven from the outside.

Server and workers are real processes; partners are connected through the consent
pages; users enter through the public API; the demo only watches the numbers.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone
from django_q.tasks import async_task
from tqdm import tqdm

from audiencesync.accounts.services import user_email_mark_verified
from audiencesync.sync.selectors import sync_status_report
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.models import EventSummary, Membership, Role, Workspace
from canvas.models import (
    Canvas,
    CanvasEntry,
    DelayUnit,
    EntryMode,
    RunState,
    ScheduleKind,
    Segment,
    StepKind,
    SyncAction,
)
from canvas.segments import services as segment_services
from canvas.segments.compile import segment_profiles
from canvas.services import canvases as canvas_services
from canvas.services.entry_settings import EntrySettings, canvas_entry_settings_update
from partners.selectors import ad_accounts_selectable

from .browser import Browser
from .connect import partner_connect, sign_in
from .processes import Processes, wait_until_serving
from .sandbox import sandbox_control_headers
from .synthetic import synthetic_activity, synthetic_users

ENTRIES_PER_CALL = 10_000
TRACK_USERS_PER_CALL = 2_000  # at most 4 events a user: within the 10,000 items a list
DELAY_SECONDS = 3


def _demo_login() -> tuple[Workspace, str, str]:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    email = f"demo-{stamp}-{secrets.token_hex(2)}@audiencesync.local"
    password = secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user(email, password)
    user_email_mark_verified(user=user)
    workspace = Workspace.objects.create(name=f"Demo {stamp}", slug=f"demo-{stamp}-{user.pk}",
                                         created_by=user)
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    return workspace, email, password


def _sync_step(canvas, *, partner_key: str, user, audience_name: str, fields: list[str]):
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    account = ad_accounts_selectable(workspace=canvas.workspace, partner_key=partner_key).first()
    canvas_services.step_update_sync(step=step, partner_key=partner_key,
                                     ad_account_id=account.pk, audience_id=None,
                                     action=SyncAction.ADD, match_fields=fields,
                                     respect_ad_tracking=True)
    step.refresh_from_db()
    canvas_services.audience_create(step=step, name=audience_name, match_fields=fields,
                                    user=user)
    step.refresh_from_db()
    return step


def build_canvas(*, workspace: Workspace, partners: list[str], user):
    """TikTok add -> Pinterest add (email) -> Delay -> TikTok remove (as partners allow)."""
    canvas = canvas_services.canvas_create(workspace=workspace, name="Demo journey", user=user)
    first_tiktok = None
    if "tiktok" in partners:
        first_tiktok = _sync_step(canvas, partner_key="tiktok", user=user,
                                  audience_name="Demo high-value", fields=["email", "phone"])
    if "pinterest" in partners:
        _sync_step(canvas, partner_key="pinterest", user=user, audience_name="Demo pinners",
                   fields=["email"])
    if first_tiktok is not None:
        delay = canvas_services.step_add(canvas=canvas, kind=StepKind.DELAY)
        canvas_services.step_update_delay(step=delay, value=DELAY_SECONDS,
                                          unit=DelayUnit.SECONDS)
        remove = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
        canvas_services.step_update_sync(
            step=remove, partner_key="tiktok", ad_account_id=first_tiktok.ad_account_id,
            audience_id=first_tiktok.audience_id, action=SyncAction.REMOVE,
            match_fields=first_tiktok.match_fields, respect_ad_tracking=True)
    return canvas_services.canvas_launch(canvas=canvas)


def build_scheduled_canvas(*, workspace: Workspace, user, segment: Segment) -> Canvas:
    """"High value": the segment enters at launch -> TikTok add (email, phone)."""
    canvas = canvas_services.canvas_create(workspace=workspace, name="High value", user=user)
    _sync_step(canvas, partner_key="tiktok", user=user, audience_name="Demo segment high value",
               fields=["email", "phone"])
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.SCHEDULED, schedule_kind=ScheduleKind.AT_LAUNCH,
        target_segment_id=segment.pk))
    return canvas_services.canvas_launch(canvas=canvas)


def _hash_sets(keys) -> set[frozenset[str]]:
    """Each member as the set of SHA-256 hex digests it was matched on."""
    return {frozenset(re.findall(r"[0-9a-f]{64}", key)) for key in keys}


def scheduled_audience_check(*, site_url: str, canvas: Canvas, segment: Segment) -> dict:
    """The canvas's run, and whether the sandbox's audience holds exactly the segment's
    members that have a usable email or phone and ad tracking enabled."""
    step = canvas.steps.select_related("audience").get()
    reachable = (segment_profiles(segment=segment).filter(ad_tracking_enabled=True)
                 .exclude(email_sha256="", phone_sha256=""))
    expected = _hash_sets("|".join(filter(None, pair)) for pair in
                          reachable.values_list("email_sha256", "phone_sha256").iterator())
    response = requests.get(
        f"{site_url}/sandbox/__sandbox__/audiences/tiktok/{step.audience.external_id}/members",
        timeout=30, headers=sandbox_control_headers())
    response.raise_for_status()
    held = _hash_sets(response.json()["members"])
    run = canvas.runs.get()
    return {"segment_members": segment_profiles(segment=segment).count(),
            "reachable_members": len(expected), "audience_members": len(held),
            "audience_matches_segment": held == expected,
            "run": {"eligible": run.eligible, "entered": run.entered, "skipped": run.skipped,
                    "state": run.state}}


def _enter(*, site_url: str, canvas_id: int, key: str, users: list[dict]) -> dict:
    totals = {"entered": 0, "already_in_canvas": 0, "rejected": 0}
    for start in range(0, len(users), ENTRIES_PER_CALL):
        response = requests.post(
            f"{site_url}/api/v1/canvases/{canvas_id}/entries",
            json={"users": users[start:start + ENTRIES_PER_CALL]},
            headers={"Authorization": f"Bearer {key}"}, timeout=300,
        )
        response.raise_for_status()
        for name in totals:
            totals[name] += response.json()[name]
    return totals


def _track(*, site_url: str, key: str, users: list[dict]) -> dict:
    """The users' attributes and events through the track API; what it wrote, and the events
    the database then holds per name (from the per-profile counts)."""
    totals = {"attributes_written": 0, "events_written": 0, "rejected": 0}
    for start in range(0, len(users), TRACK_USERS_PER_CALL):
        attributes, events = synthetic_activity(users[start:start + TRACK_USERS_PER_CALL],
                                                now=timezone.now(), seed=start)
        response = requests.post(
            f"{site_url}/api/v1/users/track", json={"attributes": attributes, "events": events},
            headers={"Authorization": f"Bearer {key}"}, timeout=300,
        )
        response.raise_for_status()
        for name in totals:
            totals[name] += response.json()[name]
    return totals


def _events_by_name(workspace: Workspace) -> dict[str, int]:
    return dict(EventSummary.objects.filter(workspace=workspace).values("name")
                .annotate(total=Sum("count")).order_by("name").values_list("name", "total"))


HIGH_VALUE = {"groups": [{"join": "and", "filters": [
    {"kind": "attribute", "attribute": "lifetime_spend", "operator": "greater", "value": 500},
    {"kind": "event", "event": "purchase", "operator": "at_least", "count": 2, "days": 30},
    {"kind": "identifier", "identifier": "email"},
]}], "exclusions": []}


def _high_value(*, workspace: Workspace, user, processes: Processes, timeout_s: float) -> dict:
    """The "High value" segment built from what the track API wrote, its exact size counted
    by the cluster's task as the page's button asks for it."""
    segment = segment_services.segment_create(workspace=workspace, name="High value",
                                              definition=HIGH_VALUE, user=user)
    segment_services.segment_size_request(segment=segment)
    deadline = time.monotonic() + timeout_s
    while segment.size_computed_at is None:
        processes.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError("The High value segment was not counted in time.")
        time.sleep(0.2)
        segment = Segment.objects.get(pk=segment.pk)
    return {"name": segment.name, "size": segment.size, "reach": segment.reach}


def _canvas_steps(canvas_id: int) -> list[dict]:
    return [s for s in sync_status_report()["steps"] if s["canvas_id"] == canvas_id]


def _scheduled_wait(canvas: Canvas, *, deadline: float, processes: Processes) -> None:
    """Until the cluster has run the canvas's launch occurrence and synced everyone."""
    while True:
        processes.check_alive()
        steps = _canvas_steps(canvas.pk)
        if (canvas.runs.filter(state=RunState.FINISHED).exists()
                and all(s["pending"] == 0 for s in steps)):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("The scheduled canvas did not finish in time; see its page.")
        time.sleep(0.5)


def sandbox_record(site_url: str) -> dict | None:
    """What the partners received, when they are a sandbox that says so; else None."""
    mounted = f"{site_url}/sandbox"
    origins = {mounted}
    for url in (settings.TIKTOK_API_BASE_URL, settings.PINTEREST_API_BASE_URL):
        parts = urlsplit(url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    records = []
    for origin in sorted(origins):
        try:
            # The control token goes to this site's own sandbox only, never to another host.
            headers = sandbox_control_headers() if origin == mounted else {}
            response = requests.get(f"{origin}/__sandbox__/record", timeout=10, headers=headers)
        except requests.RequestException:
            continue
        if response.ok:
            records.append(response.json())
    return records[0] if len(records) == 1 else (records and _merge(records)) or None


def _merge(records: list[dict]) -> dict:
    merged = {"audiences": [], "requests": 0, "duplicate_receipts": 0,
              "rate_limited_responses": 0, "oversize_rejections": 0, "max_requests_per_s": {}}
    for record in records:
        merged["audiences"] += record["audiences"]
        for name in ("requests", "duplicate_receipts", "rate_limited_responses",
                     "oversize_rejections"):
            merged[name] += record[name]
        merged["max_requests_per_s"].update(record["max_requests_per_s"])
    return merged


def demo_refuse_beside_a_running_product(site_url: str) -> None:
    """The demo runs its own server and workers on this database. A product already serving
    at SITE_URL (a running ``bin/run``) has workers on the same database that would take the
    demo's batches and send them to its own sandbox, which knows none of the demo's tokens:
    say so instead of running a demo that cannot finish."""
    parts = urlsplit(site_url)
    with socket.socket() as probe:
        probe.settimeout(1)
        busy = probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0
    if busy:
        raise RuntimeError(
            f"Something already serves {site_url} (bin/run?). Its workers share this database "
            "and would take the demo's users: stop it first (Ctrl-C), run the demo, then start "
            "bin/run again to look around."
        )


def demo_run(*, users: int, partners: list[str], show_progress: bool = True,
             timeout_s: float | None = None) -> dict:
    site_url = settings.SITE_URL
    started = time.monotonic()
    with Processes() as processes:
        processes.web(port=urlsplit(site_url).port)
        processes.cluster()
        wait_until_serving(f"{site_url}/accounts/login/")
        async_task("audiencesync.sync.tasks.dispatch", task_name="sync dispatcher")

        workspace, email, password = _demo_login()
        browser = Browser()
        sign_in(browser=browser, site_url=site_url, email=email, password=password)
        for partner_key in partners:
            partner_connect(browser=browser, site_url=site_url, partner_key=partner_key)
        owner = workspace.memberships.get().user
        canvas = build_canvas(workspace=workspace, partners=partners, user=owner)
        key = api_key_create(workspace=workspace, name="demo", created_by=owner).secret
        people = synthetic_users(users)
        # Attributes and events first, so that the users enter with something to select on.
        track = _track(site_url=site_url, key=key, users=people)
        track["events_by_name"] = _events_by_name(workspace)
        entry = _enter(site_url=site_url, canvas_id=canvas.pk, key=key, users=people)
        # After the entries API, which brought the users' identifiers.
        segment = _high_value(workspace=workspace, user=owner, processes=processes,
                              timeout_s=60 + users / 1000)

        deadline = time.monotonic() + (timeout_s or 300 + users / 200)
        with tqdm(total=entry["entered"] * len(_canvas_steps(canvas.pk)), unit="user",
                  disable=not show_progress, desc="syncing") as bar:
            while True:
                processes.check_alive()
                steps = _canvas_steps(canvas.pk)
                in_canvas = CanvasEntry.objects.filter(canvas=canvas,
                                                       exited_at__isnull=True).count()
                done = sum(s["synced"] + s["not_synced"] + s["errored"] for s in steps)
                bar.n = done
                bar.set_postfix(synced=sum(s["synced"] for s in steps),
                                pending=sum(s["pending"] for s in steps),
                                errored=sum(s["errored"] for s in steps), in_canvas=in_canvas)
                bar.refresh()
                if in_canvas == 0 and all(s["pending"] == 0 for s in steps) and all(
                        s["entered"] for s in steps):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("The demo did not finish in time; see sync_status.")
                time.sleep(0.5)
        scheduled = None
        if "tiktok" in partners:
            target = Segment.objects.get(workspace=workspace, name="High value")
            high_value = build_scheduled_canvas(workspace=workspace, user=owner, segment=target)
            _scheduled_wait(high_value, deadline=time.monotonic() + 300 + users / 200,
                            processes=processes)
            scheduled = scheduled_audience_check(site_url=site_url, canvas=high_value,
                                                 segment=target)
            if not scheduled["audience_matches_segment"]:
                raise RuntimeError(f"The High value audience does not hold exactly the "
                                   f"segment's reachable members: {scheduled}")
        record = sandbox_record(site_url)
    return {"steps": steps, "sandbox": record, "in_canvas": in_canvas, "scheduled": scheduled,
            "entry": entry, "track": track, "segment": segment,
            "login": {"email": email, "password": password},
            "wall_s": round(time.monotonic() - started, 1)}
