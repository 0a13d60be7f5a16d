"""The sandbox's knobs: a Django setting wins, then the environment, then the default.

Read at call time, never cached, so a test that overrides a setting is obeyed at once.
The limits read here are the configured ones; the controls may override them at run time
(see ``gate.limits_current``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parents[2]

# name -> (default, type). Every knob, so a standalone server can be handed the same values.
KNOBS: dict[str, tuple[object, Callable]] = {
    "SANDBOX_STATE_PATH": (str(REPO_ROOT / "var" / "sandbox.sqlite3"), str),
    "SANDBOX_TIKTOK_APP_ID": ("sandbox-tiktok-app", str),
    "SANDBOX_TIKTOK_SECRET": ("sandbox-tiktok-secret", str),
    "SANDBOX_PINTEREST_CLIENT_ID": ("sandbox-pinterest-app", str),
    "SANDBOX_PINTEREST_CLIENT_SECRET": ("sandbox-pinterest-secret", str),
    "SANDBOX_TIKTOK_RATE": (50.0, float),
    # The app's tier also counts calls per minute and per UTC day (the top tier's by default).
    "SANDBOX_TIKTOK_RATE_PER_MIN": (3_000, int),
    "SANDBOX_TIKTOK_RATE_PER_DAY": (4_320_000, int),
    "SANDBOX_TIKTOK_MAX_ROWS": (10_000, int),
    "SANDBOX_TIKTOK_MAX_AUDIENCES": (400, int),
    "SANDBOX_PINTEREST_RATE": (7.0, float),
    "SANDBOX_PINTEREST_MAX_RECORDS": (1_900, int),
    # Comma-separated: where each app's consent page may send users back (none: nowhere).
    "SANDBOX_TIKTOK_REDIRECT_URIS": ("", str),
    "SANDBOX_PINTEREST_REDIRECT_URIS": ("", str),
    # Opens the controls and the record to a tool that sends it (none: staff only).
    "SANDBOX_CONTROL_TOKEN": ("", str),
}


def knob(name: str):
    default, cast = KNOBS[name]
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    return default if value in (None, "") else cast(value)


def knobs_as_environ() -> dict[str, str]:
    """Every knob's current value, for the environment of a standalone server process."""
    return {name: str(knob(name)) for name in KNOBS}


def state_path() -> str:
    return knob("SANDBOX_STATE_PATH")


def tiktok_app_id() -> str:
    return knob("SANDBOX_TIKTOK_APP_ID")


def tiktok_secret() -> str:
    return knob("SANDBOX_TIKTOK_SECRET")


def pinterest_client_id() -> str:
    return knob("SANDBOX_PINTEREST_CLIENT_ID")


def pinterest_client_secret() -> str:
    return knob("SANDBOX_PINTEREST_CLIENT_SECRET")


def _uri_list(value: str) -> list[str]:
    return [uri.strip() for uri in value.split(",") if uri.strip()]


def tiktok_redirect_uris() -> list[str]:
    return _uri_list(knob("SANDBOX_TIKTOK_REDIRECT_URIS"))


def pinterest_redirect_uris() -> list[str]:
    return _uri_list(knob("SANDBOX_PINTEREST_REDIRECT_URIS"))


def control_token() -> str:
    return knob("SANDBOX_CONTROL_TOKEN")


def controls_open_to_loopback() -> bool:
    """Only the standalone server's own settings say so; mounted, the controls are closed."""
    return bool(getattr(settings, "SANDBOX_CONTROLS_OPEN_TO_LOOPBACK", False))
