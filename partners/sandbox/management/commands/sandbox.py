"""Steer the partner sandbox and read its record, on the same state file the sandbox serves
(the SANDBOX_STATE_PATH setting). Destructive subcommands are dry runs without --commit."""

import json
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from partners.sandbox import control, gate
from partners.sandbox.bench import bench_run
from partners.sandbox.serve import standalone_server
from partners.sandbox.world import PARTNERS


class Command(BaseCommand):
    help = (
        "Control the partner sandbox: record, status, members, reset, revoke, "
        "delete-audience, faults, limits, bench."
    )

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        subcommands.add_parser("record", help="print what the partners received (JSON)")
        subcommands.add_parser("status", help="print the limits and faults in force (JSON)")

        members = subcommands.add_parser("members", help="print an audience's member keys")
        members.add_argument("--partner", choices=PARTNERS, required=True)
        members.add_argument("--audience-id", required=True)

        reset = subcommands.add_parser("reset", help="forget everything")
        reset.add_argument("--commit", action="store_true")

        revoke = subcommands.add_parser("revoke", help="revoke a token or all of a partner's")
        target = revoke.add_mutually_exclusive_group(required=True)
        target.add_argument("--token")
        target.add_argument("--partner", choices=PARTNERS)
        revoke.add_argument(
            "--grant", action="store_true", help="with --token: every token of its grant"
        )
        revoke.add_argument("--commit", action="store_true")

        delete = subcommands.add_parser("delete-audience", help="delete an audience or list")
        delete.add_argument("--partner", choices=PARTNERS, required=True)
        delete.add_argument("--audience-id", required=True)
        delete.add_argument("--commit", action="store_true")

        faults = subcommands.add_parser(
            "faults", help="replace a partner's injected faults (what is not given is off)"
        )
        faults.add_argument("--partner", choices=PARTNERS, required=True)
        faults.add_argument("--error-share", type=float, default=0.0)
        faults.add_argument("--timeout-share", type=float, default=0.0)
        faults.add_argument("--timeout-seconds", type=float, default=0.0)
        faults.add_argument("--not-editable-share", type=float, default=0.0)
        faults.add_argument("--storm-seconds", type=float, default=0.0)
        faults.add_argument("--seed", type=int, default=0)

        limits = subcommands.add_parser("limits", help="switch limits on/off or change them")
        switch = limits.add_mutually_exclusive_group()
        switch.add_argument("--on", dest="enabled", action="store_true", default=None)
        switch.add_argument("--off", dest="enabled", action="store_false")
        limits.add_argument("--tiktok-rate", type=float)
        limits.add_argument("--tiktok-rate-per-min", type=int)
        limits.add_argument("--tiktok-rate-per-day", type=int)
        limits.add_argument("--tiktok-max-rows", type=int)
        limits.add_argument("--tiktok-max-audiences", type=int)
        limits.add_argument("--pinterest-rate", type=float)
        limits.add_argument("--pinterest-max-records", type=int)

        bench = subcommands.add_parser(
            "bench", help="measure the users/s a standalone sandbox takes in full TikTok batches"
        )
        bench.add_argument(
            "--url", help="a running sandbox's root URL (default: start one on a temporary state)"
        )
        bench.add_argument("--batches", type=int, default=30)
        bench.add_argument("--rows", type=int, default=10_000)
        bench.add_argument("--concurrency", type=int, default=4)
        bench.add_argument("--workers", type=int, default=2, help="when starting a sandbox")

    def handle(self, *args, subcommand, **options):
        handler = getattr(self, "_" + subcommand.replace("-", "_"))
        try:
            handler(**options)
        except control.ControlError as error:
            raise CommandError(str(error)) from error

    def _print_json(self, payload) -> None:
        self.stdout.write(json.dumps(payload, indent=2))

    def _dry_run(self, commit: bool, what: str) -> bool:
        if not commit:
            self.stdout.write(f"Dry run: would {what}. Add --commit to do it.")
        return not commit

    def _record(self, **options):
        self._print_json(control.record_read())

    def _status(self, **options):
        self._print_json(control.status_read())

    def _members(self, *, partner, audience_id, **options):
        self._print_json(
            {"members": control.members_read(partner=partner, audience_id=audience_id)}
        )

    def _reset(self, *, commit, **options):
        if self._dry_run(commit, "forget every token, audience, member, counter and fault"):
            return
        control.state_reset()
        self.stdout.write("Sandbox state reset.")

    def _revoke(self, *, token, partner, grant, commit, **options):
        if token:
            what = f"revoke {'the grant of ' if grant else ''}token ...{token[-4:]}"
        else:
            what = f"revoke every {partner} token"
        if self._dry_run(commit, what):
            return
        revoked = control.tokens_revoke(token=token, partner=partner, whole_grant=grant)
        self.stdout.write(f"Revoked {revoked} live token(s).")

    def _delete_audience(self, *, partner, audience_id, commit, **options):
        if self._dry_run(commit, f"delete {partner} audience {audience_id}"):
            return
        control.audience_delete(partner=partner, audience_id=audience_id)
        self.stdout.write(f"Deleted {partner} audience {audience_id}.")

    def _faults(self, *, partner, error_share, timeout_share, timeout_seconds,
                not_editable_share, storm_seconds, seed, **options):
        faults = control.faults_set(
            partner=partner, error_share=error_share, timeout_share=timeout_share,
            timeout_seconds=timeout_seconds, not_editable_share=not_editable_share,
            storm_seconds=storm_seconds, seed=seed,
        )
        self._print_json({partner: vars(faults)})

    def _limits(self, *, enabled, **options):
        values = {
            name: options[name]
            for name in gate.LIMIT_KNOBS
            if options[name] is not None
        }
        self._print_json(vars(control.limits_set(enabled=enabled, **values)))

    def _bench(self, *, url, batches, rows, concurrency, workers, **options):
        if batches < 1 or rows < 1 or concurrency < 1 or workers < 1:
            raise CommandError("--batches, --rows, --concurrency and --workers must be >= 1.")
        self.stdout.write(
            f"Sending {batches} batches of {rows:,} users (3 ids each), "
            f"{concurrency} at a time ..."
        )
        if url:
            result = bench_run(
                base_url=url.rstrip("/") + "/", batches=batches, rows=rows,
                concurrency=concurrency,
            )
        else:
            with tempfile.TemporaryDirectory() as directory:
                state_path = str(Path(directory) / "bench.sqlite3")
                with standalone_server(state_path=state_path, workers=workers) as base_url:
                    self.stdout.write(f"Standalone sandbox with {workers} worker(s) at {base_url}")
                    result = bench_run(
                        base_url=base_url, batches=batches, rows=rows, concurrency=concurrency
                    )
        self.stdout.write(result.summary())
        if result.received != result.users:
            raise CommandError(f"The sandbox recorded {result.received:,} of {result.users:,}.")
