"""The product's own processes, started and stopped in one way: the web server (gunicorn with
the product's config file) and the django-q2 cluster, each leading its own process group.

Stopping signals each group, not its leader alone, so no gunicorn or django-q2 worker
outlives its parent: the web server gets SIGTERM (gunicorn stops its workers); a cluster
gets SIGINT, as from Ctrl-C, which django-q2 takes as an orderly stop and the sync tasks as
"finish the batch in hand" (SIGTERM would kill its sentinel at once). Whatever is left when
the time is up is killed, group and all. ``manage.py run`` and the proofs (demo, benchmark,
tests) both start their processes here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

GUNICORN_CONFIG = "python:audiencesync.gunicorn_conf"
MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


@dataclass
class Child:
    popen: subprocess.Popen
    name: str  # "The web server", "The cluster", ...
    stop_signal: int = signal.SIGTERM
    own_group: bool = False  # it leads a process group: signals reach the whole group

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has ended already
            if self.own_group:
                os.killpg(self.popen.pid, sig)
            elif self.popen.poll() is None:
                self.popen.send_signal(sig)


class Children:
    """Processes started here, stopped together (also when the parent fails)."""

    def __init__(self, *, quiet: bool = False, stop_timeout_s: float = 30.0,
                 on_kill: Callable[[Child], None] | None = None):
        """``quiet``: the children's output goes nowhere. ``on_kill``: told about a child
        that did not stop within ``stop_timeout_s`` and is killed."""
        self.children: list[Child] = []
        self.quiet = quiet
        self.stop_timeout_s = stop_timeout_s
        self.on_kill = on_kill

    def start(self, args: list[str], *, name: str = "", env: dict[str, str] | None = None,
              own_group: bool = False, stop_signal: int = signal.SIGTERM) -> subprocess.Popen:
        output = subprocess.DEVNULL if self.quiet else None
        popen = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=output,
                                 stderr=output, cwd=settings.BASE_DIR,
                                 start_new_session=own_group)
        self.children.append(Child(popen=popen, name=name or " ".join(args[:4]),
                                   stop_signal=stop_signal, own_group=own_group))
        return popen

    def web_start(self, *, bind: str, workers: int, env: dict[str, str] | None = None,
                  access_log: bool = True) -> subprocess.Popen:
        """gunicorn with the product's config (scrubbed access log, threads, timeout), which
        gunicorn started directly uses too; flags given here win over it."""
        args = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG,
                "--bind", bind, "--workers", str(workers)]
        if not access_log:
            args += ["--access-logfile", os.devnull]
        return self.start(args, name="The web server", env=env, own_group=True)

    def cluster_start(self, *, env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.start([sys.executable, MANAGE, "qcluster"], name="The cluster", env=env,
                          own_group=True, stop_signal=signal.SIGINT)

    def exited(self) -> subprocess.Popen | None:
        """The first child that has exited, if any."""
        return next((c.popen for c in self.children if c.popen.poll() is not None), None)

    def stop(self) -> None:
        """Signal every child (its whole group if it leads one), wait up to the stop timeout
        for them all, then kill what is left."""
        for child in self.children:
            child.signal(child.stop_signal)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in self.children:
            try:
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                if self.on_kill is not None:
                    self.on_kill(child)
                child.signal(signal.SIGKILL)
                child.popen.wait()
            if child.own_group:
                child.signal(signal.SIGKILL)  # stragglers the leader left behind
        self.children.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
