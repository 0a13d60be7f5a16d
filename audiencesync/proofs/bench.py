"""The benchmark: the product's real processes against a standalone sandbox, measured.

Each phase gets its own canvas and step, so no phase inherits another's backlog. The
figures are reported, never asserted: they depend on the machine.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, Min
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from django_q.tasks import async_task
from tqdm import tqdm

from audiencesync.sync import engine
from audiencesync.workspaces import identifiers, rows
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.fields import PROFILE_DEFAULTS, PROFILE_FIELDS
from audiencesync.workspaces.hooks import consent_withdrawn_notify
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.management.commands.generate_profiles_csv import profile_row
from audiencesync.workspaces.models import (
    AttributeDefinition,
    EventDailyCount,
    EventSummary,
    Membership,
    Profile,
    Role,
    Workspace,
)
from canvas.models import (
    Canvas,
    CanvasStatus,
    EntryMode,
    ItemState,
    RequestOutcome,
    RunState,
    ScheduledRun,
    ScheduleKind,
    Step,
    StepKind,
    SyncBatch,
    SyncCursor,
    SyncItem,
    SyncRequest,
)
from canvas.segments.compile import definition_clean
from canvas.segments.models import Segment
from canvas.segments.services import segment_create, segment_size_calculate
from canvas.selectors import step_metrics
from canvas.services.entry import canvas_enter_users
from canvas.services.scheduled_runs import scheduled_runs_due
from partners import ratelimit, registry
from partners.models import Audience, AudienceStatus
from partners.sandbox.bench import bench_run as sandbox_bench_run
from partners.services import connection_call

from .demo import HIGH_VALUE
from .processes import Processes, free_port, wait_until_serving
from .sandbox import LiveSandbox, start_sandbox, workspace_connect

PINTEREST_RATE, PINTEREST_BATCH = 7, 1900  # the documented limits the phase runs at
PINTEREST_CEILING = PINTEREST_RATE * PINTEREST_BATCH


@dataclass(frozen=True)
class Sizes:
    entry: int
    raw_batches: int
    adherence: int
    adherence_workers: tuple[int, ...]
    latency_rate: int
    latency_seconds: int
    memory: tuple[int, int]
    track_calls: int = 10
    track_per_call: int = 10_000
    track_profiles: int = 100_000
    import_rows: int = 1_000_000
    segment_profiles: int = 1_000_000
    segment_events: int = 5_000_000
    scheduled: tuple[int, int] = (100_000, 1_000_000)


FULL = Sizes(entry=200_000, raw_batches=20, adherence=100_000,
             adherence_workers=(1, 2, 4), latency_rate=2000, latency_seconds=60,
             memory=(10_000, 1_000_000))
QUICK = Sizes(entry=20_000, raw_batches=4, adherence=50_000,
              adherence_workers=(1, 2), latency_rate=2000, latency_seconds=10,
              memory=(10_000, 100_000), track_calls=2, track_per_call=2_000,
              track_profiles=4_000, import_rows=20_000, segment_profiles=20_000,
              segment_events=100_000, scheduled=(10_000, 100_000))

# In the order they run; a phase needs the ones named here to run before it.
PHASES = ("entry", "ceiling", "raw", "adherence", "latency", "memory", "track", "import",
          "segment_count", "scheduled_entry")
NEEDS = {"ceiling": "entry", "raw": "ceiling"}
TRACK_EVENT_NAMES = ("purchase", "cart_abandoned", "app_open")


def _users(count: int, *, prefix: str) -> list[dict]:
    return [{"external_id": f"{prefix}-{i}", "email": f"{prefix}.{i}@example.com",
             "phone": f"+1415{i % 10_000_000:07d}"} for i in range(count)]


class Bench:
    def __init__(self, *, sizes: Sizes, say):
        self.sizes = sizes
        self.say = say
        self.processes = Processes()
        self.run_id = timezone.now().strftime("%H%M%S")
        self.sandbox: LiveSandbox | None = None
        self.state_dir: Path | None = None

    # --- set-up ----------------------------------------------------------------------------
    def setup(self) -> None:
        # A directory of its own: two benchmarks at once never share a sandbox's state.
        self.state_dir = Path(tempfile.mkdtemp(prefix="bench-", dir=settings.VAR_DIR))
        self.sandbox = start_sandbox(self.state_dir, processes=self.processes)
        for name, value in self._partner_env().items():
            setattr(settings, name, value)
        user = get_user_model().objects.create_user(f"bench-{self.run_id}-{os.getpid()}@local")
        self.workspace = Workspace.objects.create(name=f"Bench {self.run_id}",
                                                  slug=f"bench-{self.run_id}-{user.pk}")
        Membership.objects.create(workspace=self.workspace, user=user, role=Role.OWNER)
        self.connections = {key: workspace_connect(sandbox=self.sandbox, workspace=self.workspace,
                                                   partner_key=key)
                            for key in ("tiktok", "pinterest")}

    def _partner_env(self) -> dict:
        return {"TIKTOK_API_BASE_URL": self.sandbox.tiktok_api,
                "TIKTOK_AUTHORIZE_URL": f"{self.sandbox.url}/portal/auth",
                "PINTEREST_API_BASE_URL": f"{self.sandbox.url}/v5/",
                "PINTEREST_AUTHORIZE_URL": f"{self.sandbox.url}/oauth/"}

    def _cluster_env(self, *, workers: int, senders: int, limits: bool) -> dict:
        env = {name: str(value) for name, value in self._partner_env().items()}
        env.update(Q_WORKERS=str(workers), SYNC_SENDERS=str(senders), SYNC_TICK_SECONDS="0.1")
        if not limits:
            env.update(TIKTOK_RATE_PER_S="100000", TIKTOK_RATE_PER_MIN="1000000000",
                       TIKTOK_RATE_PER_DAY="1000000000", PINTEREST_RATE_PER_S="100000")
        return env

    def close(self) -> None:
        self.processes.stop()
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # --- helpers -----------------------------------------------------------------------------
    def _step(self, *, partner_key: str, fields: list[str], name: str,
              connection_row=None) -> tuple[Canvas, Step]:
        account = (connection_row or self.connections[partner_key]).ad_accounts.filter(
            selected=True).first()
        partner = registry.get(partner_key)
        info = connection_call(connection=account.connection, call=lambda p, c: p.create_audience(
            credentials=c, ad_account_id=account.external_id, name=name, match_fields=fields))
        audience = Audience.objects.create(
            ad_account=account, external_id=info.id if info else "", name=name,
            match_fields=fields, created_here=True,
            status=AudienceStatus.ACTIVE if info else AudienceStatus.AWAITING_FIRST_USERS)
        canvas = Canvas.objects.create(workspace=account.connection.workspace, name=name,
                                       status=CanvasStatus.ACTIVE, launched_at=timezone.now())
        step = Step.objects.create(canvas=canvas, position=0, kind=StepKind.AUDIENCE_SYNC,
                                   partner=partner.key, ad_account=account, audience=audience,
                                   match_fields=fields)
        SyncCursor.objects.create(step=step)
        return canvas, step

    def _fill(self, canvas: Canvas, count: int, *, prefix: str) -> float:
        started = time.perf_counter()
        for start in range(0, count, 10_000):
            canvas_enter_users(canvas=canvas, users=_users(min(10_000, count - start),
                                                           prefix=f"{prefix}-{start}"))
        return time.perf_counter() - started

    @contextmanager
    def _cluster(self, *, workers: int, senders: int, limits: bool):
        cluster = Processes()
        try:
            for _ in range(max(1, (workers + 2) // 3)):
                cluster.cluster(env=self._cluster_env(workers=min(workers + 1, 4),
                                                      senders=senders, limits=limits))
            time.sleep(3)  # the clusters start their workers
            async_task("audiencesync.sync.tasks.dispatch", task_name="sync dispatcher")
            yield cluster
        finally:
            cluster.stop()

    def _wait_done(self, step: Step, *, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while step_metrics(steps=[step])[0].pending:
            if time.monotonic() > end:
                raise TimeoutError(f"{step} still has pending users after {timeout_s:.0f} s.")
            time.sleep(0.2)

    def _limits(self, enabled: bool) -> None:
        self.sandbox.control(action="limits", enabled=enabled)

    # --- phases ------------------------------------------------------------------------------
    def entry(self) -> dict:
        """Users/s entered through the public API, 10,000 a call."""
        n = self.sizes.entry
        canvas, step = self._step(partner_key="tiktok", fields=["email", "phone"],
                                  name="bench entry")
        key = api_key_create(workspace=self.workspace, name="bench").secret
        port = free_port()
        site = f"http://127.0.0.1:{port}"
        web = Processes()
        web.web(port=port, env={"SITE_URL": site})
        try:
            wait_until_serving(f"{site}/accounts/login/")
            calls = [_users(10_000, prefix=f"api-{self.run_id}-{s}") for s in range(0, n, 10_000)]
            started = time.perf_counter()
            for users in calls:
                answer = requests.post(f"{site}/api/v1/canvases/{canvas.pk}/entries",
                                       json={"users": users}, timeout=600,
                                       headers={"Authorization": f"Bearer {key}"})
                answer.raise_for_status()
            seconds = time.perf_counter() - started
        finally:
            web.stop()
        self.say(f"entry: {n:,} users through the API in {seconds:.1f} s")
        self.entered_step = step
        return {"users": n, "users_per_s": round(n / seconds)}

    def queries_per_batch(self) -> int:
        canvas, step = self._step(partner_key="tiktok", fields=["email"], name="bench queries")
        # The first warms the rate bucket; a rate that never makes the send wait for its
        # paced slot (a wait is limiter work, not the batch's).
        with override_settings(TIKTOK_RATE_PER_S=1_000_000, TIKTOK_RATE_PER_MIN=10**9,
                               TIKTOK_RATE_PER_DAY=10**9):
            for count, prefix in ((1, "q0"), (100, "q1")):
                canvas_enter_users(canvas=canvas,
                                   users=_users(count, prefix=f"{prefix}-{self.run_id}"))
                with CaptureQueriesContext(connection) as queries:
                    engine.batch_send(batch=engine.batch_claim(step=step), step=step)
        return len(queries)

    def ceiling(self) -> dict:
        """Partner limits lifted: the users the entry phase left pending, all synced (TikTok)."""
        step = self.entered_step
        n = step_metrics(steps=[step])[0].pending
        queries = self.queries_per_batch()
        self._limits(False)
        try:
            with self._cluster(workers=3, senders=3, limits=False) as cluster:
                self._wait_done(step, timeout_s=900)
                cpu = sum(_group_cpu_s(child.pid) for child in cluster.children)
        finally:
            self._limits(True)
        seconds = _busy_seconds(step)
        self.say(f"ceiling: {n:,} pending users synced in {seconds:.1f} s")
        return {"users": n, "users_per_s": round(n / seconds),
                "cpu_s_per_1000_users": round(cpu / n * 1000, 3), "queries_per_batch": queries}

    def raw(self, ceiling_users_per_s: float) -> dict:
        result = sandbox_bench_run(base_url=f"{self.sandbox.url}/", batches=self.sizes.raw_batches,
                                   rows=10_000, concurrency=2)
        self.say(f"raw sandbox: {result.summary()}")
        return {"users_per_s": round(result.users_per_s),
                "pipeline_over_raw": round(ceiling_users_per_s / result.users_per_s, 2)}

    def adherence(self) -> list[dict]:
        """Documented limits on: N users to one Pinterest connection, by sender count."""
        rows = []
        for workers in self.sizes.adherence_workers:
            canvas, step = self._step(partner_key="pinterest", fields=["email"],
                                      name=f"bench adherence {workers}")
            self._fill(canvas, self.sizes.adherence, prefix=f"adh{workers}-{self.run_id}")
            limited_before = self.sandbox.record()["rate_limited_responses"]
            with self._cluster(workers=workers, senders=workers, limits=True):
                self._wait_done(step, timeout_s=600)
            users_per_s = _achieved_users_per_s(step)
            record = self.sandbox.record()
            limited = record["rate_limited_responses"] - limited_before
            peak = max((v for k, v in record["max_requests_per_s"].items()
                        if k.startswith("pinterest")), default=0)
            self.say(f"adherence: {workers} sender(s): {users_per_s:,.0f} users/s "
                     f"({users_per_s / PINTEREST_CEILING:.3f} of 7 x 1,900; the limiter aims "
                     f"at {1 / ratelimit.window_s():.3f}), {limited} rate-limited answers")
            rows.append({"workers": workers,
                         "fraction_of_limit": round(users_per_s / PINTEREST_CEILING, 3),
                         "rate_limited_responses": limited, "max_requests_per_s": peak,
                         # What the limiter aims at: the limit over a window RATE_LIMIT_MARGIN
                         # longer than the partner's second.
                         "limiter_aim": round(1 / ratelimit.window_s(), 3)})
        return rows

    def latency(self) -> dict:
        """Users entering at a steady rate into a TikTok step: seconds from entry to synced."""
        rate, seconds = self.sizes.latency_rate, self.sizes.latency_seconds
        canvas, step = self._step(partner_key="tiktok", fields=["email", "phone"],
                                  name="bench latency")
        # Four calls a second: each call has a fixed cost, and the entering must keep pace.
        per_tick, tick = rate // 4, 0.25
        with self._cluster(workers=3, senders=2, limits=True):
            started = time.perf_counter()
            for n in range(seconds * 4):
                canvas_enter_users(canvas=canvas, users=_users(
                    per_tick, prefix=f"lat-{self.run_id}-{n}"))
                pause = started + (n + 1) * tick - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            achieved = rate * seconds / (time.perf_counter() - started)
            self._wait_done(step, timeout_s=120)
        delays = sorted(
            (resolved - created).total_seconds() for created, resolved in
            SyncItem.objects.filter(step=step, state=ItemState.SYNCED)
            .values_list("created_at", "resolved_at").iterator())
        pick = lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))], 2)  # noqa: E731
        self.say(f"latency: {len(delays):,} users at {achieved:,.0f}/s: p50 {pick(0.5)} s, "
                 f"p95 {pick(0.95)} s, p99 {pick(0.99)} s")
        return {"rate_per_s": rate, "achieved_rate_per_s": round(achieved), "seconds": seconds,
                "p50_s": pick(0.5), "p95_s": pick(0.95), "p99_s": pick(0.99),
                "mean_s": round(statistics.fmean(delays), 2)}

    def memory(self) -> dict:
        """A sender's peak RSS with a small and a large backlog pending."""
        result = {}
        self._limits(False)
        try:
            for pending in self.sizes.memory:
                canvas, step = self._step(partner_key="tiktok", fields=["email"],
                                          name=f"bench memory {pending}")
                self._fill(canvas, pending, prefix=f"mem{pending}-{self.run_id}")
                rss_mb = _flush_peak_rss_mb(env=self._cluster_env(workers=2, senders=1,
                                                                  limits=False))
                label = ("pending_1m_rss_mb" if pending >= 1_000_000
                         else f"pending_{pending // 1000}k_rss_mb")
                result[label] = rss_mb
                self.say(f"memory: {pending:,} pending: a sender's peak RSS {rss_mb} MB")
                with self._cluster(workers=3, senders=3, limits=False):
                    self._wait_done(step, timeout_s=900)  # leave nobody pending
        finally:
            self._limits(True)
        return result

    def track(self) -> dict:
        """Events/s through the track API: calls of N events, one per existing profile."""
        sizes = self.sizes
        workspace = self._workspace(f"track-{self.run_id}")
        _profiles_create(workspace, [f"trk-{i:07d}" for i in range(sizes.track_profiles)])
        key = api_key_create(workspace=workspace, name="bench track").secret
        now = timezone.now()
        bodies = [_track_body(call=c, per_call=sizes.track_per_call,
                              profiles=sizes.track_profiles, now=now)
                  for c in range(sizes.track_calls)]
        port = free_port()
        site = f"http://127.0.0.1:{port}"
        web = Processes()
        # One worker serves the one client: its peak RSS after each call shows whether memory
        # grows with the calls.
        server = web.web(port=port, workers=1, env={"SITE_URL": site})
        rss = []
        try:
            wait_until_serving(f"{site}/accounts/login/")
            seconds = 0.0
            for body in tqdm(bodies, desc="track", unit="call", file=sys.stderr, disable=None,
                             leave=False):
                started = time.perf_counter()
                answer = requests.post(f"{site}/api/v1/users/track", data=body, timeout=600,
                                       headers={"Authorization": f"Bearer {key}",
                                                "Content-Type": "application/json"})
                seconds += time.perf_counter() - started
                answer.raise_for_status()
                if answer.json()["events_written"] != sizes.track_per_call:
                    raise RuntimeError(f"The track API refused events: {answer.text[:500]}")
                rss.append(_group_peak_rss_mb(server.pid))
        finally:
            web.stop()
        events = sizes.track_calls * sizes.track_per_call
        result = {"events": events, "events_per_s": round(events / seconds),
                  "calls": sizes.track_calls, "profiles": sizes.track_profiles,
                  "body_bytes": len(bodies[0]),
                  "web_peak_rss_mb_first_call": rss[0], "web_peak_rss_mb_last_call": rss[-1],
                  "web_peak_rss_mb_by_call": rss}
        self.say(f"track: {events:,} events in {sizes.track_calls} calls in {seconds:.1f} s: "
                 f"{result['events_per_s']:,} events/s; the web worker's peak RSS {rss[0]} MB "
                 f"after the first call, {rss[-1]} MB after the last")
        return result

    def import_(self) -> dict:
        """Rows/s of the profile import (half new profiles, half updates), with and without
        the phone column."""
        rows = self.sizes.import_rows
        path = self.state_dir / "profiles.csv"
        _profiles_csv_write(path, rows=rows, say=self.say)
        without = self.state_dir / "profiles-without-phones.csv"
        _column_drop(path, without, column="phone")
        result = {"rows": rows}
        for label, csv_path in (("rows_per_s", path), ("rows_per_s_without_phones", without)):
            workspace = self._workspace(f"import-{label}-{self.run_id}")
            # Half the rows update profiles that exist: the odd ones.
            _profiles_create(workspace, [f"user-{n:08d}" for n in range(1, rows, 2)])
            with csv_path.open("rb") as binary, tqdm(
                    total=rows, desc=f"import ({label})", unit="row", file=sys.stderr,
                    disable=None, leave=False) as bar:
                started = time.perf_counter()
                report = profiles_import(workspace=workspace, csv_file=binary,
                                         progress=lambda n: bar.update(n - bar.n),
                                         on_consent_withdrawn=consent_withdrawn_notify)
                seconds = time.perf_counter() - started
            if (report.created, report.updated) != (rows - rows // 2, rows // 2):
                raise RuntimeError(f"The import created {report.created:,} and updated "
                                   f"{report.updated:,} profiles of {rows:,} rows "
                                   f"({report.rejected_count:,} rejected).")
            result[label] = round(rows / seconds)
        self.say(f"import: {rows:,} rows (half new, half updates): {result['rows_per_s']:,} "
                 f"rows/s; without the phone column {result['rows_per_s_without_phones']:,} "
                 "rows/s")
        return result

    def scheduled_entry(self, entry: dict | None) -> dict:
        """One scheduled run over a segment of N profiles (the smaller size, then the larger),
        each entering task in a process of its own, whose peak RSS is read; then a sender's
        peak RSS over the run's pending users."""
        result = {}
        for size in self.sizes.scheduled:
            label = "1m" if size >= 1_000_000 else f"{size // 1000}k"
            workspace = self._workspace(f"scheduled-{label}-{self.run_id}")
            connection_row = workspace_connect(sandbox=self.sandbox, workspace=workspace,
                                               partner_key="tiktok")
            _profiles_with_emails(workspace, size, say=self.say)
            segment = Segment.objects.create(
                workspace=workspace, name="Has email", definition=definition_clean(
                    workspace=workspace, definition=_HAS_EMAIL))
            canvas, step = self._step(partner_key="tiktok", fields=["email"],
                                      name=f"bench scheduled {label}",
                                      connection_row=connection_row)
            Canvas.objects.filter(pk=canvas.pk).update(
                entry_mode=EntryMode.SCHEDULED, schedule_kind=ScheduleKind.AT_LAUNCH,
                target_segment=segment)
            [run_id] = [run for run in scheduled_runs_due()
                        if ScheduledRun.objects.get(pk=run).canvas_id == canvas.pk]
            seconds, rss_mb = _scheduled_run_in_process(run_id)
            run = ScheduledRun.objects.get(pk=run_id)
            if (run.state, run.entered) != (RunState.FINISHED, size):
                raise RuntimeError(f"The run entered {run.entered:,} of {size:,} ({run.state}).")
            sender_mb = _flush_peak_rss_mb(env=self._cluster_env(workers=2, senders=1,
                                                                 limits=False))
            result.update({"users": size, "users_per_s": round(size / seconds),
                           f"rss_mb_{label}": rss_mb, f"sender_rss_mb_{label}": sender_mb})
            self.say(f"scheduled_entry: {size:,} profiles of a segment entered by one run in "
                     f"{seconds:.1f} s: {size / seconds:,.0f} users/s; the entering task's "
                     f"peak RSS {rss_mb} MB, a sender's {sender_mb} MB")
            # Its pending users would otherwise hold up the phases of a later run.
            Canvas.objects.filter(pk=canvas.pk).delete()
        if self.sizes.scheduled != FULL.scheduled:
            result["sizes"] = f"--quick: {self.sizes.scheduled[0]:,} and {self.sizes.scheduled[1]:,}"
        if entry:
            result["entries_api_users_per_s"] = entry["users_per_s"]
    def segment_count(self) -> dict:
        """Seconds to count the demo's High value segment exactly, over profiles and events
        written with set-based SQL (see ``_segment_data``)."""
        sizes = self.sizes
        workspace = self._workspace(f"segment-{self.run_id}")
        started = time.perf_counter()
        _segment_data(workspace, profiles=sizes.segment_profiles, events=sizes.segment_events,
                      now=timezone.now())
        self.say(f"segment_count: {sizes.segment_profiles:,} profiles and "
                 f"{sizes.segment_events:,} events written in "
                 f"{time.perf_counter() - started:.0f} s")
        segment = segment_create(workspace=workspace, name="High value", definition=HIGH_VALUE)
        runs = []
        for _ in range(SEGMENT_RUNS):
            started = time.perf_counter()
            size = segment_size_calculate(segment_id=segment.pk).size
            runs.append(time.perf_counter() - started)
        result = {"profiles": sizes.segment_profiles, "events": sizes.segment_events,
                  "size": size, "seconds": round(statistics.median(runs), 3),
                  "first_seconds": round(runs[0], 3)}
        self.say(f"segment_count: High value holds {size:,} profiles "
                 f"({size / sizes.segment_profiles:.1%}); its exact size, reach and sample in "
                 f"{result['seconds']} s (median of {SEGMENT_RUNS}; the first "
                 f"{result['first_seconds']} s)")
        return result

    def _workspace(self, name: str) -> Workspace:
        return Workspace.objects.create(name=f"Bench {name}", slug=f"bench-{name}-{os.getpid()}",
                                        default_country="US")


_HAS_EMAIL = {"groups": [{"join": "and", "filters": [{"kind": "identifier",
                                                     "identifier": "email"}]}]}


def _profiles_with_emails(workspace: Workspace, count: int, *, say) -> None:
    """``count`` profiles with an email, judged and hashed as the product stores them,
    written by COPY in chunks."""
    columns = ["workspace_id", "external_id", *PROFILE_FIELDS, *identifiers.STORED_COLUMNS,
               "attributes", "created_at", "updated_at"]
    now = rows.db_datetime(timezone.now())
    empty = rows.db_json({})
    blank = {field: "" for field in identifiers.FIELDS}
    for start in tqdm(range(0, count, 50_000), desc="profiles", unit="chunk", file=sys.stderr,
                      disable=None, leave=False):
        rows.rows_insert(model=Profile, columns=columns, rows=[
            (workspace.pk, f"s-{n:08d}", *[PROFILE_DEFAULTS[f] if f != "email" else email
                                           for f in PROFILE_FIELDS],
             *identifiers.stored_row(values={**blank, "email": email},
                                     default_country="US").values(), empty, now, now)
            for n in range(start, min(count, start + 50_000))
            for email in [f"s{n}@example.com"]])
    if connection.vendor == "postgresql":
        # What autovacuum does soon after a large import: without it the planner takes the
        # workspace for a few hundred rows.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Profile._meta.db_table}")
    say(f"scheduled_entry: {count:,} profiles written")


# A process's own peak RSS is VmHWM: ru_maxrss survives fork and exec, so in a child it is
# at least the RSS of the parent that started it (this benchmark's).
_PEAK_RSS_KB = ("int(next(line for line in open('/proc/self/status') "
                "if line.startswith('VmHWM:')).split()[1])")

# DEBUG (which the benchmark runs with) keeps the text of every statement, 10,000 ids
# each: off, as in production, so that the peak is the run's own.
_SCHEDULED_RUN = f"""
import sys, time, django
django.setup()
from django.conf import settings
settings.DEBUG = False
from canvas.services.scheduled_runs import scheduled_run_work
started = time.perf_counter()
scheduled_run_work(run_id=int(sys.argv[1]))
print(time.perf_counter() - started, {_PEAK_RSS_KB})
"""


def _scheduled_run_in_process(run_id: int) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a scheduled run worked to its end by a fresh process."""
    output = subprocess.run([sys.executable, "-c", _SCHEDULED_RUN, str(run_id)],
                            capture_output=True, text=True, check=True, cwd=settings.BASE_DIR)
    seconds, rss_kb = output.stdout.strip().splitlines()[-1].split()
    return float(seconds), round(int(rss_kb) / 1024, 1)


def _profiles_create(workspace: Workspace, external_ids: list[str]) -> None:
    for start in range(0, len(external_ids), 10_000):
        Profile.objects.bulk_create([Profile(workspace=workspace, external_id=external_id)
                                     for external_id in external_ids[start:start + 10_000]])


_PROPERTIES = {"sku": "SKU-000000", "amount": 49.9, "currency": "USD", "source": "bench",
               "campaign": "winter-sale-2026"}  # about 100 bytes as JSON


def _track_body(*, call: int, per_call: int, profiles: int, now) -> bytes:
    """One call's events: ``per_call`` distinct profiles, the three names in turn."""
    first = call * per_call
    time_text = now.isoformat().replace("+00:00", "Z")
    return json.dumps({"events": [
        {"external_id": f"trk-{(first + i) % profiles:07d}",
         "name": TRACK_EVENT_NAMES[(first + i) % 3], "time": time_text,
         "properties": {**_PROPERTIES, "sku": f"SKU-{(first + i) % 1_000_000:06d}"}}
        for i in range(per_call)]}).encode()


SEGMENT_RUNS = 3
# A deterministic spread in [0, 1) from an integer and a salt (Knuth's multiplicative hash),
# the same in PostgreSQL and SQLite, where random() cannot be seeded alike. (%% is modulo in
# SQL sent with parameters.)
_SPREAD = "((({n}) * 2654435761 + {salt} * 40503) %% 4294967296) / 4294967296.0"
_SERIES = {
    "postgresql": "SELECT i FROM generate_series(1, %s) AS g(i)",
    "sqlite": "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %s) "
              "SELECT i FROM g",
}


def _segment_data(workspace: Workspace, *, profiles: int, events: int, now) -> None:
    """Profiles and events for the segment_count phase, written by the database itself.

    Profile i: ``lifetime_spend`` spread over 0-1,250 (60 % above 500), a usable email but
    for every 20th, ad tracking off for every 8th. Events: every 5th is a ``purchase`` by a
    profile whose number divides by 3, at a time skewed towards now (57 % in the last 30
    days); the others are one of 4 names by anyone, spread over 90 days. The events go to a
    temporary table only: the segment reads their per-profile summaries and daily counts,
    which are what the product keeps of events (the raw rows are purged after the retention).
    """
    vendor = connection.vendor
    spread = lambda n, salt: _SPREAD.format(n=n, salt=salt)  # noqa: E731
    with connection.cursor() as cursor:
        series = _SERIES[vendor]
        if vendor == "postgresql":
            hash_of = "encode(sha256(convert_to({0}, 'UTF8')), 'hex')"
            attributes = ("jsonb_build_object('lifetime_spend', round((" + spread("i", 1)
                          + " * 1250)::numeric, 2), 'plan', (ARRAY['free', 'plus', 'pro'])"
                          "[1 + i %% 3])")
            ago = "%s::timestamptz - make_interval(secs => {0})"
            day = "(time AT TIME ZONE 'UTC')::date"
            cursor.execute("CREATE TEMP TABLE bench_events (profile integer, name text, "
                           "time timestamptz)")
        else:
            # SQLite has no SHA-256: a placeholder hash, which no segment reads.
            hash_of = "printf('%%064d', length({0}))"
            attributes = ("json_object('lifetime_spend', round(" + spread("i", 1)
                          + " * 1250, 2), 'plan', CASE i %% 3 WHEN 0 THEN 'free' WHEN 1 THEN "
                          "'plus' ELSE 'pro' END)")
            ago = "datetime(%s, '-' || CAST({0} AS INTEGER) || ' seconds')"
            day = "date(time)"
            cursor.execute("CREATE TEMP TABLE bench_events (profile integer, name text, "
                           "time text)")
        stamp = now if vendor == "postgresql" else now.strftime("%Y-%m-%d %H:%M:%S")
        profile_table = Profile._meta.db_table
        email = "CASE WHEN i %% 20 = 0 THEN '' ELSE 'seg' || i || '@example.com' END"
        cursor.execute(f"""
            INSERT INTO {profile_table} (workspace_id, external_id, email, phone, idfa, gaid,
                ad_tracking_enabled, email_normalized, email_sha256, email_reason,
                phone_normalized, phone_sha256, phone_reason, idfa_normalized, idfa_sha256,
                idfa_reason, gaid_normalized, gaid_sha256, gaid_reason, attributes,
                created_at, updated_at)
            SELECT %s, 'seg-' || i, {email}, '', '', '', i %% 8 <> 0, {email},
                CASE WHEN i %% 20 = 0 THEN '' ELSE {hash_of.format(email)} END,
                CASE WHEN i %% 20 = 0 THEN 'missing' ELSE '' END,
                '', '', 'missing', '', '', 'missing', '', '', 'missing', {attributes}, %s, %s
            FROM ({series}) AS numbers""", [workspace.pk, stamp, stamp, profiles])
        buyers = max(1, profiles // 3)
        names = "CASE i %% 5 WHEN 1 THEN 'app_open' WHEN 2 THEN 'cart_abandoned' " \
                "WHEN 3 THEN 'page_view' ELSE 'search' END"
        cursor.execute(f"""
            INSERT INTO bench_events (profile, name, time)
            SELECT CASE WHEN i %% 5 = 0 THEN 3 * (1 + CAST({spread("i", 2)} * {buyers} AS INTEGER))
                        ELSE 1 + CAST({spread("i", 2)} * {profiles} AS INTEGER) END,
                   CASE WHEN i %% 5 = 0 THEN 'purchase' ELSE {names} END,
                   {ago.format(f"CASE WHEN i %% 5 = 0 THEN {spread('i', 3)} * {spread('i', 3)} "
                               f"ELSE {spread('i', 3)} END * 7776000")}
            FROM ({series}) AS numbers""", [stamp, events])
        # Purchases of profile numbers past the last profile (3 x buyers > profiles) are
        # dropped with them by the join below.
        daily, summary = EventDailyCount._meta.db_table, EventSummary._meta.db_table
        # Profile number -> id, keyed, so that both databases join the events to it fast.
        cursor.execute("CREATE TEMP TABLE bench_numbers (number integer PRIMARY KEY, "
                       "id integer)")
        cursor.execute(f"""
            INSERT INTO bench_numbers (number, id)
            SELECT CAST(substr(external_id, 5) AS INTEGER), id FROM {profile_table}
            WHERE workspace_id = %s""", [workspace.pk])
        cursor.execute(f"""
            INSERT INTO {daily} (workspace_id, profile_id, name, day, count)
            SELECT %s, p.id, e.name, {day}, COUNT(*) FROM bench_events e
            JOIN bench_numbers p ON p.number = e.profile GROUP BY p.id, e.name, {day}""",
                       [workspace.pk])
        cursor.execute(f"""
            INSERT INTO {summary} (workspace_id, profile_id, name, count, first_at, last_at)
            SELECT %s, p.id, e.name, COUNT(*), MIN(e.time), MAX(e.time) FROM bench_events e
            JOIN bench_numbers p ON p.number = e.profile GROUP BY p.id, e.name""",
                       [workspace.pk])
        cursor.execute("DROP TABLE bench_events")
        cursor.execute("DROP TABLE bench_numbers")
        attribute_table = AttributeDefinition._meta.db_table
        cursor.execute(f"INSERT INTO {attribute_table} (workspace_id, name, type, first_seen, "
                       "profiles_with_it) VALUES (%s, 'lifetime_spend', 'number', %s, %s), "
                       "(%s, 'plan', 'string', %s, %s)",
                       [workspace.pk, stamp, profiles, workspace.pk, stamp, profiles])
        if vendor == "postgresql":
            # The planner's statistics and the visibility map (which lets the event indexes
            # answer alone), as autovacuum would have them on a database in use.
            for table in (profile_table, daily, summary):
                cursor.execute(f"VACUUM ANALYZE {table}")


def _profiles_csv_write(path: Path, *, rows: int, say) -> None:
    """The import's file, by ``generate_profiles_csv``'s generator, with a third custom
    attribute (``visits``, a number)."""
    rng = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["external_id", "email", "phone", "idfa", "gaid", "ad_tracking_enabled",
                         "plan", "city", "visits"])
        for number in tqdm(range(rows), desc="writing the CSV", unit="row", file=sys.stderr,
                           disable=None, leave=False):
            writer.writerow([*profile_row(rng, number, unusable=rng.random() < 0.01),
                             str(rng.randrange(500))])


def _column_drop(source: Path, target: Path, *, column: str) -> None:
    with source.open(encoding="utf-8", newline="") as inp, \
            target.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(inp), csv.writer(out)
        header = next(reader)
        drop = header.index(column)
        for row in itertools.chain([header], reader):
            writer.writerow(row[:drop] + row[drop + 1:])


def _group_peak_rss_mb(group: int) -> float:
    """The highest peak RSS (VmHWM) among the live processes of a process group, in MB."""
    peak = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != group:
                continue
            status = (stat.parent / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def _achieved_users_per_s(step: Step) -> float:
    """Users per second the partner accepted, from the first send to the last.

    Sends are paced (see partners.ratelimit), so k sends at the limit take k - 1 spacings:
    the users of all but the first send over the time between the first and the last send.
    A send's time is its answer's less its duration (which leaves the slot wait out).
    """
    accepted = sorted(
        (created - timedelta(milliseconds=duration), size) for created, duration, size in
        SyncRequest.objects.filter(step=step, outcome=RequestOutcome.ACCEPTED)
        .values_list("created_at", "duration_ms", "size"))
    if len(accepted) < 3:
        raise RuntimeError(f"{len(accepted)} requests are too few to measure a rate.")
    seconds = (accepted[-1][0] - accepted[0][0]).total_seconds()
    return sum(size for _, size in accepted[1:]) / seconds


def _busy_seconds(step: Step) -> float:
    """From the step's first claim to its last resolved batch, as the database recorded it."""
    window = SyncBatch.objects.filter(step=step).aggregate(first=Min("created_at"),
                                                           last=Max("done_at"))
    return max((window["last"] - window["first"]).total_seconds(), 0.001)


def _group_cpu_s(group: int) -> float:
    """CPU seconds used so far by the live processes of a process group (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


_FLUSH = f"""
import django
django.setup()
from audiencesync.sync import engine
engine.sync_flush(deadline_s=8)
print({_PEAK_RSS_KB})
"""


def _flush_peak_rss_mb(*, env: dict) -> float:
    output = subprocess.run([sys.executable, "-c", _FLUSH], env={**os.environ, **env},
                            capture_output=True, text=True, check=True, cwd=settings.BASE_DIR)
    return round(int(output.stdout.strip().splitlines()[-1]) / 1024, 1)


def phases_parse(text: str) -> tuple[str, ...]:
    """``entry,ceiling,...`` (or ``all``) as the phases to run, in their running order."""
    chosen = {p.strip() for p in text.split(",") if p.strip()}
    if chosen == {"all"}:
        return PHASES
    unknown = sorted(chosen - set(PHASES))
    if unknown or not chosen:
        raise ValueError(f"--phases takes all or some of {', '.join(PHASES)}; got {text!r}.")
    for phase, needed in NEEDS.items():
        if phase in chosen and needed not in chosen:
            raise ValueError(f"The {phase} phase needs the {needed} phase: add it to --phases.")
    return tuple(p for p in PHASES if p in chosen)


def bench_run(*, quick: bool, say, phases: tuple[str, ...] = PHASES,
              sizes: Sizes | None = None) -> dict:
    bench = Bench(sizes=sizes or (QUICK if quick else FULL), say=say)
    result = {"database": connection.vendor, "cpu_count": os.cpu_count(),
              "quick": quick}
    runs = {"entry": bench.entry, "ceiling": bench.ceiling,
            "raw": lambda: bench.raw(result["ceiling"]["users_per_s"]),
            "adherence": bench.adherence, "latency": bench.latency, "memory": bench.memory,
            "track": bench.track, "import": bench.import_,
            "segment_count": bench.segment_count,
            "scheduled_entry": lambda: bench.scheduled_entry(result.get("entry"))}
    try:
        bench.setup()
        for phase in phases:
            result[phase] = runs[phase]()
    finally:
        bench.close()
    return result


