"""Start the product's own processes (web server, django-q2 cluster) and stop them again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, *, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Nothing answered at {url} within {timeout_s:.0f} s.")


class Processes:
    """Children started here, stopped together (also when the parent fails)."""

    def __init__(self, *, quiet: bool = True):
        self.children: list[subprocess.Popen] = []
        self.group_leaders: set[int] = set()
        self.clusters: set[int] = set()
        self.quiet = quiet

    def start(self, args: list[str], *, env: dict[str, str] | None = None,
              own_group: bool = False) -> subprocess.Popen:
        """``own_group``: the child leads a process group, so it can be killed whole."""
        output = subprocess.DEVNULL if self.quiet else None
        child = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=output,
                                 stderr=output, cwd=settings.BASE_DIR,
                                 start_new_session=own_group)
        self.children.append(child)
        if own_group:
            self.group_leaders.add(child.pid)
        return child

    def web(self, *, port: int, workers: int = 2, env: dict[str, str] | None = None):
        return self.start([sys.executable, "-m", "gunicorn",
                           "--config", "python:audiencesync.gunicorn_conf",
                           "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                           "--access-logfile", os.devnull], env=env)

    def cluster(self, *, env: dict[str, str] | None = None):
        child = self.start([sys.executable, MANAGE, "qcluster"], env=env, own_group=True)
        self.clusters.add(child.pid)
        return child

    def check_alive(self) -> None:
        for child in self.children:
            if child.poll() is not None:
                raise RuntimeError(f"{' '.join(child.args[:4])} exited with {child.returncode}.")

    def stop(self) -> None:
        """Stop every child; a group leader's whole group, so no worker is orphaned.

        A cluster gets SIGINT, as from Ctrl-C: django-q2 stops in order and the sync tasks
        finish the batch in hand (SIGTERM would kill its sentinel at once)."""
        for child in self.children:
            self._signal(child, signal.SIGINT if child.pid in self.clusters else signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(child, signal.SIGKILL)
                child.wait()
            if child.pid in self.group_leaders:
                self._signal(child, signal.SIGKILL)  # stragglers the leader left behind
        self.children.clear()
        self.group_leaders.clear()
        self.clusters.clear()

    def _signal(self, child: subprocess.Popen, sig: int) -> None:
        try:
            if child.pid in self.group_leaders:
                os.killpg(child.pid, sig)
            elif child.poll() is None:
                child.send_signal(sig)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
