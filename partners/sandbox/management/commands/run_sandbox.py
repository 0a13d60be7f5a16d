"""Serve the partner sandbox on its own, at the partners' real paths (no /sandbox/ prefix)."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from partners.sandbox.serve import server_command, server_environ


class Command(BaseCommand):
    help = (
        "Serve the partner sandbox standalone through gunicorn (threads), at the partners' "
        "real paths: /open_api/v1.3/..., /portal/auth, /v5/..., /oauth/, /__sandbox__/..."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
        parser.add_argument("--threads", type=int, default=8, help="per process (default 8)")
        parser.add_argument(
            "--state", help="state file (default: the SANDBOX_STATE_PATH setting)"
        )

    def handle(self, *args, port, host, workers, threads, state, **options):
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        if workers < 1 or threads < 1:
            raise CommandError("--workers and --threads must be at least 1.")
        environ = server_environ(state_path=state)
        self.stdout.write(
            f"Partner sandbox at http://{host}:{port}/ "
            f"(state {environ['SANDBOX_STATE_PATH']})"
        )
        sys.stdout.flush()
        command = server_command(host=host, port=port, workers=workers, threads=threads)
        # exec: gunicorn takes this process's place, so signals reach it directly.
        os.execve(sys.executable, command, environ)
