"""The batch lease's setting: SYNC_BATCH_LEASE_SECONDS, with its earlier name still read."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

_PRINT_LEASE = """
import django
django.setup()
from django.conf import settings
print(settings.SYNC_BATCH_LEASE_SECONDS)
"""


def _batch_lease_seconds(**env: str) -> int:
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("SYNC_LEASE_SECONDS", "SYNC_BATCH_LEASE_SECONDS")}
    done = subprocess.run([sys.executable, "-c", _PRINT_LEASE], cwd=settings.BASE_DIR,
                          env={**environment, **env}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout)


@pytest.mark.parametrize(("env", "seconds"), [
    ({}, 90),
    ({"SYNC_BATCH_LEASE_SECONDS": "40"}, 40),
    ({"SYNC_LEASE_SECONDS": "50"}, 50),  # an operator's setting from before the rename
    ({"SYNC_LEASE_SECONDS": "50", "SYNC_BATCH_LEASE_SECONDS": "40"}, 40),
])
def test_the_batch_lease_is_set_by_its_name_or_its_earlier_one(env, seconds):
    assert _batch_lease_seconds(**env) == seconds
