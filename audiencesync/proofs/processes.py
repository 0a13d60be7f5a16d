"""Start the product's own processes (web server, django-q2 cluster) for the proofs and stop
them again, as ``manage.py run`` does (``audiencesync.sync.processes``)."""

from __future__ import annotations

import socket
import time

import requests

from audiencesync.sync.processes import Children


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


class Processes(Children):
    """The proofs' children: quiet, served on 127.0.0.1 without an access log, given 20 s
    to stop."""

    def __init__(self, *, quiet: bool = True):
        super().__init__(quiet=quiet, stop_timeout_s=20.0)

    def web(self, *, port: int, workers: int = 2, env: dict[str, str] | None = None):
        return self.web_start(bind=f"127.0.0.1:{port}", workers=workers, env=env,
                              access_log=False)

    def cluster(self, *, env: dict[str, str] | None = None):
        return self.cluster_start(env=env)

    def check_alive(self) -> None:
        child = self.exited()
        if child is not None:
            raise RuntimeError(f"{' '.join(child.args[:4])} exited with {child.returncode}.")
