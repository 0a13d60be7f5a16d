"""Settings for the sandbox served on its own (``run_sandbox``): the sandbox app and nothing
of the product, no database, no middleware. Every SANDBOX_* knob comes from the environment
(see ``conf.KNOBS``), which ``run_sandbox`` fills with the values it was started with."""

import os

from partners.sandbox.conf import KNOBS

SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-standalone: signs nothing")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["partners.sandbox"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "partners.sandbox.urls"
DATABASES: dict = {}
USE_TZ = True
TIME_ZONE = "UTC"
APPEND_SLASH = False
# Served on its own, the controls answer any caller on this machine without the token.
SANDBOX_CONTROLS_OPEN_TO_LOOPBACK = True
# A full TikTok batch is about 2 MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
SANDBOX_STATE_PATH = os.environ.get("SANDBOX_STATE_PATH") or KNOBS["SANDBOX_STATE_PATH"][0]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SANDBOX_LOG_LEVEL", "WARNING")},
    # A 404 is an answer the sandbox gives on purpose (TikTok without a trailing slash).
    "loggers": {"django.request": {"level": "ERROR"}},
}
