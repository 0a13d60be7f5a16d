"""Starting the standalone sandbox: gunicorn with threaded workers on the sandbox's own
settings, handed the knobs of the process that starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import conf

# Injected timeouts sleep inside a request: gunicorn must not kill such a worker.
WORKER_TIMEOUT_S = 600


def server_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "partners.sandbox.wsgi:application",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--timeout", str(WORKER_TIMEOUT_S),
        "--graceful-timeout", "5",
        "--chdir", str(conf.REPO_ROOT),
        # Its default control socket is one path per machine: sandboxes would fight over it.
        "--no-control-socket",
    ]


def server_environ(*, state_path: str | None = None) -> dict[str, str]:
    environ = {**os.environ, **conf.knobs_as_environ()}
    if state_path is not None:
        environ["SANDBOX_STATE_PATH"] = str(Path(state_path).resolve())
    environ["DJANGO_SETTINGS_MODULE"] = "partners.sandbox.standalone_settings"
    return environ


def server_wait(base_url: str, *, timeout_s: float = 30.0) -> None:
    """Block until the server at ``base_url`` answers, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}__sandbox__/status", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"The sandbox at {base_url} did not answer.") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def standalone_server(
    *, state_path: str, workers: int = 2, threads: int = 8, log=subprocess.DEVNULL
) -> Iterator[str]:
    """A standalone sandbox on a free local port for the duration; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        server_command(host="127.0.0.1", port=port, workers=workers, threads=threads),
        env=server_environ(state_path=state_path), stdout=log, stderr=log,
    )
    base_url = f"http://127.0.0.1:{port}/"
    try:
        server_wait(base_url)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
