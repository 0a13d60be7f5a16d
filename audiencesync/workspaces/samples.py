"""Sample CSV files for the import pages: a few rows of every column kind, events dated
within the last days so that a sample downloaded any day imports without a rejected row."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from .attributes import datetime_canonical

PROFILE_ROWS = [
    ["external_id", "email", "phone", "idfa", "gaid", "ad_tracking_enabled", "plan",
     "lifetime_spend"],
    ["u1001", "ana@example.com", "+14155550101", "", "", "true", "pro", "640.50"],
    ["u1002", "ben@example.com", "(415) 555-0102", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "",
     "true", "free", "0"],
    ["u1003", "", "+447700900123", "", "cdda802e-fb9c-47ad-9866-0794d394c912", "false", "pro",
     "120"],
]


def sample_profiles_csv() -> str:
    return _csv(PROFILE_ROWS)


def sample_events_csv(*, now: datetime) -> str:
    def ago(**delta) -> str:
        return datetime_canonical(now - timedelta(**delta))

    return _csv([
        ["external_id", "name", "time", "amount", "currency"],
        ["u1001", "purchase", ago(days=2, hours=3), "49.90", "USD"],
        ["u1001", "app_open", ago(days=1, minutes=20), "", ""],
        ["u1002", "cart_abandoned", ago(hours=5), "19.00", "EUR"],
    ])


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
