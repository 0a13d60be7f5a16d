"""`manage.py bench`: the track, import and segment_count phases, and choosing phases."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command


def test_bench_measures_the_track_api_and_the_profile_import(tmp_path):
    env = {**os.environ, "DEBUG": "true",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}", "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "manage.py", "bench", "--quick", "--json",
                           "--phases", "track,import"], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)

    assert {"track", "import"} <= set(result) and "entry" not in result
    track, imported = result["track"], result["import"]
    assert track["events"] == 4_000 and track["events_per_s"] > 0
    assert 0 < track["web_peak_rss_mb_first_call"] <= track["web_peak_rss_mb_last_call"]
    assert imported["rows"] == 20_000
    assert imported["rows_per_s"] > 0 and imported["rows_per_s_without_phones"] > 0
    assert "track: 4,000 events in 2 calls" in done.stderr
    assert "import: 20,000 rows (half new, half updates)" in done.stderr


def test_bench_counts_the_high_value_segment(tmp_path):
    env = {**os.environ, "DEBUG": "true",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}", "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "manage.py", "bench", "--quick", "--json",
                           "--phases", "segment_count"], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    counted = json.loads(done.stdout)["segment_count"]
    assert (counted["profiles"], counted["events"]) == (20_000, 100_000)
    # The data is made for the segment to hold about a tenth of the profiles.
    assert 1_500 < counted["size"] < 2_500
    assert counted["seconds"] > 0
    assert "segment_count: 20,000 profiles and 100,000 events written" in done.stderr


@pytest.mark.parametrize(("phases", "message"), [
    ("ceiling", "The ceiling phase needs the entry phase"),
    ("track,speed", "--phases takes all or some of entry, ceiling"),
])
def test_bench_refuses_phases_it_cannot_run(settings, phases, message):
    settings.DEBUG = True
    with pytest.raises(CommandError, match=message):
        call_command("bench", "--phases", phases)


def test_bench_measures_a_scheduled_run_beside_the_entries_api(tmp_path):
    env = {**os.environ, "DEBUG": "true",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}", "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "manage.py", "bench", "--quick", "--json",
                           "--phases", "entry,scheduled_entry"], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    scheduled = json.loads(done.stdout)["scheduled_entry"]
    assert scheduled["users"] == 100_000 and scheduled["users_per_s"] > 0
    assert scheduled["rss_mb_10k"] > 0 and scheduled["rss_mb_100k"] > 0
    assert scheduled["sender_rss_mb_10k"] > 0 and scheduled["sender_rss_mb_100k"] > 0
    assert scheduled["entries_api_users_per_s"] > 0
    assert scheduled["sizes"] == "--quick: 10,000 and 100,000"
    assert "scheduled_entry: 100,000 profiles of a segment entered by one run" in done.stderr
