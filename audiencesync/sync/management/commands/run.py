"""`bin/run`: migrate, print the demo login (development mode only), then serve the site and
run the workers."""

import signal
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_q.tasks import async_task

from audiencesync.sync.processes import Child, Children
from audiencesync.sync.schedules import schedules_setup
from audiencesync.workspaces.demo import DEMO_EMAIL, demo_login_ensure, demo_login_exists


class Command(BaseCommand):
    help = "Serve the site and run the django-q2 cluster in the foreground (Ctrl-C stops both)."

    def add_arguments(self, parser):
        default_port = urlsplit(settings.SITE_URL).port or 8000
        parser.add_argument("--bind", default=f"127.0.0.1:{default_port}",
                            help="host:port for the web server (default from SITE_URL).")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-cluster", action="store_true",
                            help="Serve the site only (workers run elsewhere).")

    def handle(self, *args, bind, web_workers, no_cluster, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        schedules_setup()
        if settings.DEBUG:
            email, password = demo_login_ensure()
            login = f"  log in as      {email}\n  password       {password}\n"
            demo = ("  try the demo   .venv/bin/python manage.py demo --users 2000"
                    "   (after Ctrl-C here: it runs its own server)\n")
        else:
            # Production makes no account: operators make theirs with createsuperuser.
            login = "  log in with    an account of yours (manage.py createsuperuser makes one)\n"
            demo = ""
            if demo_login_exists():
                self.stderr.write(self.style.WARNING(
                    f"The development demo login {DEMO_EMAIL} exists in this database: "
                    "delete it in the admin unless you mean to keep it."))
        database = settings.DATABASES["default"]
        partners = ("sandbox (no real partner is called)" if settings.PARTNER_SANDBOX
                    else "real partner hosts")
        self.stdout.write(self.style.SUCCESS(
            f"\nAudience Sync is starting at {settings.SITE_URL}\n"
            f"{login}"
            f"  database       {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}\n"
            f"  partners       {partners}\n"
            f"{demo}"
            "Ctrl-C stops the web server and the workers.\n"
        ))
        children = Children(stop_timeout_s=STOP_TIMEOUT_S, on_kill=self._killing)
        children.web_start(bind=bind, workers=web_workers)
        if not no_cluster:
            children.cluster_start()
            # Start the sync dispatcher now rather than at the scheduler's next tick.
            async_task("audiencesync.sync.tasks.dispatch", task_name="sync dispatcher")
        self._supervise(children)

    def _supervise(self, children: Children) -> None:
        def stop(*_):
            raise KeyboardInterrupt

        # SIGINT too: a shell starting this in the background sets SIGINT to be ignored.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while (exited := children.exited()) is None:
                time.sleep(0.5)
            exit_code = exited.returncode
            self.stderr.write(f"A process exited with status {exit_code}; stopping the others.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping ...")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: keep stopping
            # No worker outlives this command: see audiencesync.sync.processes.
            children.stop()
        if exit_code:
            sys.exit(exit_code)

    def _killing(self, child: Child) -> None:
        self.stderr.write(f"{child.name} did not stop within {STOP_TIMEOUT_S} s: killing it.")


STOP_TIMEOUT_S = 30
