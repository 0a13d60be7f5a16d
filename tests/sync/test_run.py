"""Stopping: the long sync tasks stop at a signal, and `manage.py run` leaves no process
behind (the web server's and the cluster's whole process groups end with it)."""

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings

from audiencesync.proofs.processes import Processes, free_port, wait_until_serving
from audiencesync.sync import tasks
from audiencesync.sync.processes import Children


def test_the_dispatcher_stops_at_a_signal_and_hands_over_to_nobody(db, settings):
    settings.SYNC_DISPATCHER_SECONDS = 600
    before = signal.getsignal(signal.SIGINT)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()

    assert tasks.dispatch() == "stopped"  # not "dispatched": no successor was enqueued
    assert signal.getsignal(signal.SIGINT) is before


_SENDER_GETS_SIGTERM = """
import os, signal, threading, django
django.setup()
from audiencesync.sync import tasks
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
with tasks._stoppable() as stop:
    while not stop.requested:
        signal.pause()
    print("the batch in hand is finished", flush=True)
print("not reached: SIGTERM ends the worker", flush=True)
"""


def test_a_long_task_finishes_its_batch_then_lets_sigterm_end_the_worker():
    done = subprocess.run([sys.executable, "-c", _SENDER_GETS_SIGTERM], cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["the batch in hand is finished"]


def _processes() -> dict[int, list[str]]:
    """Every process's stat fields after its name (state, ppid, pgrp, ...), from /proc: Linux."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            found[int(stat.parent.name)] = stat.read_text().rpartition(")")[2].split()
        except OSError:  # it ended while being read
            continue
    return found


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    return [child for child, fields in _processes().items() if int(fields[1]) == pid]


def _wait_for(log: Path, text: str, *, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while text not in log.read_text():
        if time.monotonic() > end:
            raise AssertionError(f"{text!r} not in the output after {timeout_s} s")
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_run_stops_the_web_server_and_every_cluster_process(tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
           "SITE_URL": f"http://127.0.0.1:{port}", "Q_WORKERS": "2", "REDIS_URL": "",
           "SANDBOX_STATE_PATH": str(tmp_path / "sandbox.sqlite3"), "LOG_LEVEL": "INFO"}
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen([sys.executable, "manage.py", "run"], cwd=settings.BASE_DIR,
                               env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/accounts/login/", timeout_s=90)
        assert requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).ok
        groups = _children(run.pid)  # gunicorn and qcluster, each leading its own group
        assert len(groups) == 2 and all(os.getpgid(pid) == pid for pid in groups)
        _wait_for(log, "processing sync dispatcher")  # a long task is running

        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    output = log.read_text()
    assert "Stopping ..." in output
    # The dispatcher ended at the signal (it would have run for minutes), so the cluster
    # stopped in order and nothing had to be killed.
    assert "SIGINT received: finishing the batch in hand, then stopping." in output
    assert "Q Cluster" in output and "has stopped." in output
    assert "did not stop within" not in output
    assert not any(_group_alive(pgid) for pgid in groups)


def test_run_in_production_makes_no_account_and_prints_no_password(tmp_path):
    port = free_port()
    database = tmp_path / "run.sqlite3"
    env = {name: value for name, value in os.environ.items() if name != "PARTNER_SANDBOX"}
    env.update({
        "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": "",
        "SITE_URL": f"http://127.0.0.1:{port}", "VAR_DIR": str(tmp_path / "var"),
        "ENV_FILE": str(tmp_path / "no.env"),
    })
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen([sys.executable, "manage.py", "run", "--no-cluster"],
                               cwd=settings.BASE_DIR, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        _wait_for(log, "Audience Sync is starting", timeout_s=90)
        # Served (off to https, as production does), so the start is over.
        end = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=5, allow_redirects=False)
                break
            except requests.ConnectionError:
                assert time.monotonic() < end, log.read_text()
                time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)

    output = log.read_text()
    assert "password" not in output.lower()
    assert "createsuperuser" in output
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM accounts_user").fetchone() == (0,)
    assert not (tmp_path / "var" / "demo-login.txt").exists()


_IGNORES_SIGTERM = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a worker of its
time.sleep(120)
"""


def _group_running(pgid: int) -> list[int]:
    """Processes of the group still running a moment after it was signalled (a SIGKILL
    lands asynchronously; a killed orphan may wait to be reaped: it counts as dead)."""
    end = time.monotonic() + 10
    while True:
        running = [pid for pid, fields in _processes().items()
                   if int(fields[2]) == pgid and fields[0] not in ("Z", "X")]
        if not running or time.monotonic() > end:
            return running
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_process_that_does_not_stop_is_killed_with_its_whole_group():
    killed = []
    children = Children(quiet=True, stop_timeout_s=1, on_kill=killed.append)
    leader = children.start([sys.executable, "-c", _IGNORES_SIGTERM], name="The stubborn one",
                            own_group=True)
    end = time.monotonic() + 30
    while not _children(leader.pid):  # its worker has started
        assert time.monotonic() < end
        time.sleep(0.1)

    children.stop()

    assert [child.name for child in killed] == ["The stubborn one"]
    assert leader.returncode == -signal.SIGKILL
    assert not _group_running(leader.pid)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_web_server_started_for_the_proofs_leads_its_group_and_ends_with_it():
    port = free_port()
    with Processes() as processes:
        web = processes.web(port=port, workers=2)
        wait_until_serving(f"http://127.0.0.1:{port}/accounts/login/", timeout_s=90)
        assert os.getpgid(web.pid) == web.pid
        assert len(_children(web.pid)) == 2  # its workers, in its group
    assert web.returncode is not None
    assert not _group_running(web.pid)
