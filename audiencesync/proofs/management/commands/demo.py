"""`manage.py demo --users N`: the whole product, headless, from consent page to audiences."""

import json
import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from audiencesync.proofs.processes import free_port
from audiencesync.sync.schedules import schedules_setup

CHILD_MARK = "AUDIENCESYNC_DEMO_PORT"
DEVELOPMENT_ONLY = ("{command} is a development tool (its own server, sandbox and logins): run "
                    "it with DEBUG=true, which bin/run's .env sets in this checkout.")
PARTNERS = ("tiktok", "pinterest")


class Command(BaseCommand):
    help = ("Start the product (server, workers, partner sandbox) on a free port, connect the "
            "partners through their consent pages, build a canvas, send N synthetic users' "
            "attributes and events through the track API, enter them through the entries API "
            "and wait until every user is synced.")

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=2000)
        parser.add_argument("--partners", default=",".join(PARTNERS),
                            help="Comma-separated: tiktok, pinterest (default both).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, users, partners, json: bool, **options):
        chosen = [p.strip() for p in partners.split(",") if p.strip()]
        unknown = sorted(set(chosen) - set(PARTNERS))
        if unknown or not chosen:
            raise CommandError(f"--partners takes {', '.join(PARTNERS)}; got {partners!r}.")
        if users < 1:
            raise CommandError("--users must be at least 1.")
        if not settings.DEBUG:
            raise CommandError(DEVELOPMENT_ONLY.format(command="demo"))
        from audiencesync.proofs.demo import demo_refuse_beside_a_running_product, demo_run

        if os.environ.get(CHILD_MARK) is None:
            try:
                demo_refuse_beside_a_running_product(settings.SITE_URL)
            except RuntimeError as error:
                raise CommandError(str(error)) from error
            self._restart_on_free_port()

        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        schedules_setup()
        try:
            result = demo_run(users=users, partners=chosen, show_progress=not json)
        except (RuntimeError, TimeoutError) as error:
            raise CommandError(str(error)) from error
        if json:
            result.pop("login")
            self.stdout.write(_json(result))
        else:
            self._print(result)

    def _restart_on_free_port(self):
        """Settings read SITE_URL once, so the demo runs again with the port in its env."""
        port = free_port()
        env = {**os.environ, CHILD_MARK: str(port), "SITE_URL": f"http://127.0.0.1:{port}"}
        env.setdefault("PARTNER_SANDBOX", "true")
        if "SANDBOX_STATE_PATH" not in env:  # a fresh sandbox of its own for every run
            state = Path(settings.VAR_DIR) / "demo-sandbox.sqlite3"
            for leftover in state.parent.glob(state.name + "*"):
                leftover.unlink()
            env["SANDBOX_STATE_PATH"] = str(state)
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    def _print(self, result: dict) -> None:
        out = self.stdout
        login = result["login"]
        out.write(f"\nDone in {result['wall_s']} s. The demo's server has stopped; its data "
                  "stays in the database. To look around, start bin/run on the same database "
                  f"and log in as {login['email']} / {login['password']}\n")
        track = result["track"]
        out.write(f"\nTrack API: {track['attributes_written']:,} attribute items (lifetime_spend, "
                  f"plan) and {track['events_written']:,} events written, {track['rejected']} "
                  "rejected; events by name: " + ", ".join(
                      f"{name} {count:,}" for name, count in track["events_by_name"].items())
                  + "\n")
        segment = result["segment"]
        out.write(f"\nSegment {segment['name']} (lifetime_spend > 500, purchase at least twice in "
                  f"30 days, a usable email): {segment['size']:,} profiles. Reach: " + ", ".join(
                      f"{field} {reach['usable']:,} ({reach['ad_tracking']:,} with ad tracking)"
                      for field, reach in segment["reach"].items()) + "\n")
        header = (f"{'step':<6}{'partner':<11}{'action':<8}{'audience':<18}{'entered':>9}"
                  f"{'proceeded':>10}{'synced':>9}{'not synced':>11}{'pending':>9}"
                  f"{'errored':>9}{'exited':>8}")
        out.write("\nStep analytics\n" + header + "\n" + "-" * len(header) + "\n")
        for s in result["steps"]:
            out.write(f"{s['id']:<6}{s['partner']:<11}{s['action']:<8}{s['audience'][:17]:<18}"
                      f"{s['entered']:>9}{s['proceeded']:>10}{s['synced']:>9}"
                      f"{s['not_synced']:>11}{s['pending']:>9}{s['errored']:>9}{s['exited']:>8}\n")
        scheduled = result["scheduled"]
        if scheduled:
            run = scheduled["run"]
            out.write(f"\nScheduled canvas High value (segment High value, at launch -> TikTok "
                      f"add): the run found {run['eligible']:,} eligible and entered "
                      f"{run['entered']:,}; {scheduled['reachable_members']:,} of the "
                      f"{scheduled['segment_members']:,} members have a usable email or phone "
                      f"and ad tracking on, and the TikTok audience holds exactly them "
                      f"({scheduled['audience_members']:,}).\n")
        record = result["sandbox"]
        if record is None:
            out.write("\nThe partners are not a sandbox: what they hold is theirs to say.\n")
            return
        out.write("\nWhat the partners hold (sandbox record)\n")
        out.write(f"{'partner':<11}{'audience id':<22}{'name':<18}{'added':>9}{'removed':>9}"
                  f"{'present':>9}\n")
        for a in record["audiences"]:
            if a["received_add"] or a["received_remove"]:
                out.write(f"{a['partner']:<11}{a['audience_id']:<22}{a['name'][:17]:<18}"
                          f"{a['received_add']:>9}{a['received_remove']:>9}{a['present']:>9}\n")
        out.write(f"\nrequests {record['requests']}, rate-limited answers "
                  f"{record['rate_limited_responses']}, duplicate receipts "
                  f"{record['duplicate_receipts']}, oversize rejections "
                  f"{record['oversize_rejections']}, highest requests/s "
                  f"{record['max_requests_per_s']}\n")


def _json(value) -> str:
    return json.dumps(value, indent=2, default=str)


