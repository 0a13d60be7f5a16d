"""`manage.py demo`, end to end: its own server, sandbox and cluster, real OAuth, the API."""

import json
import os
import socket
import subprocess
import sys
from collections import Counter

from django.conf import settings
from django.utils import timezone

from audiencesync.proofs.synthetic import synthetic_activity, synthetic_users


def test_demo_runs_the_whole_flow_and_everything_adds_up(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
           "REDIS_URL": "", "SANDBOX_STATE_PATH": str(tmp_path / "sandbox.sqlite3")}
    done = subprocess.run([sys.executable, "manage.py", "demo", "--users", "400", "--json"],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)

    add, pin, remove = result["steps"]
    assert [(s["partner"], s["action"]) for s in result["steps"]] == [
        ("tiktok", "add"), ("pinterest", "add"), ("tiktok", "remove")]
    for step in result["steps"]:
        assert step["entered"] == 400
        assert step["entered"] == step["synced"] + step["not_synced"]  # none pending/errored
        assert (step["pending"], step["errored"]) == (0, 0)
    assert 0 < add["not_synced"] < 400  # the synthetic gaps are reported, not lost
    sandbox = result["sandbox"]

    def audience(name):  # the partner's name carries a creation marker after the one given
        [found] = [a for a in sandbox["audiences"] if a["name"].startswith(name)]
        return found

    tiktok, pinterest = audience("Demo high-value"), audience("Demo pinners")
    assert (tiktok["received_add"], tiktok["received_remove"], tiktok["present"]) == (
        add["synced"], remove["synced"], 0)
    assert pinterest["present"] == pin["synced"]
    assert (sandbox["rate_limited_responses"], sandbox["duplicate_receipts"],
            sandbox["oversize_rejections"]) == (0, 0, 0)
    assert result["in_canvas"] == 0
    # The scheduled canvas: the demo segment entered at launch, exactly its reachable members
    # (a usable email or phone, ad tracking on) in the TikTok audience.
    scheduled = result["scheduled"]
    assert scheduled["audience_matches_segment"]
    assert 0 < scheduled["reachable_members"] <= scheduled["segment_members"] < 400
    assert scheduled["run"] == {"eligible": scheduled["segment_members"],
                                "entered": scheduled["segment_members"], "skipped": 0,
                                "state": "finished"}
    assert audience("Demo segment high value")["present"] == scheduled["reachable_members"]

    # Attributes and events went through the track API and are there to select on.
    track = result["track"]
    assert track["attributes_written"] == 400 and track["rejected"] == 0
    assert set(track["events_by_name"]) == {"purchase", "cart_abandoned", "app_open"}
    assert sum(track["events_by_name"].values()) == track["events_written"] > 400

    # The High value segment was built from them and counted by the cluster: exactly the
    # users the demo sent a lifetime_spend over 500, two purchases (all in the last week) and
    # an email (each a usable one) for.
    users = synthetic_users(400)
    spend_items, event_items = synthetic_activity(users, now=timezone.now(), seed=0)
    purchases = Counter(e["external_id"] for e in event_items if e["name"] == "purchase")
    emails = {u["external_id"] for u in users if "email" in u}
    high_value = [a for a in spend_items if a["lifetime_spend"] > 500
                  and purchases[a["external_id"]] >= 2 and a["external_id"] in emails]
    segment = result["segment"]
    assert segment["name"] == "High value"
    assert segment["size"] == len(high_value) > 0
    assert segment["reach"]["email"]["usable"] == segment["size"]
    assert segment["reach"]["email"]["ad_tracking"] <= segment["size"]


def test_demo_refuses_to_start_where_another_server_already_answers(tmp_path):
    with socket.socket() as server:  # another server (a running bin/run) holds the address
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
               "REDIS_URL": "", "SITE_URL": f"http://127.0.0.1:{port}"}
        done = subprocess.run([sys.executable, "manage.py", "demo", "--users", "10"],
                              cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode != 0
    assert f"Something already serves http://127.0.0.1:{port} (bin/run?)" in done.stderr
    assert "stop it first" in done.stderr
