"""Settings, all read from the environment (django-environ); see the README's table."""

import logging
import os
from pathlib import Path
from urllib.parse import urlencode

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# A development checkout's settings (bin/run writes .env on its first start); the real
# environment always wins over the file.
ENV_FILE = Path(os.environ.get("ENV_FILE", BASE_DIR / ".env"))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Production unless asked otherwise: development mode is for this machine only.
DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
if SECRET_KEY == _DEV_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is false. DEBUG is false unless set: for development, "
        "start bin/run once (it writes .env for this checkout) or set DEBUG=true."
    )

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
_site_host = SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=sorted({"127.0.0.1", "localhost", _site_host}))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

# --- HTTPS: on by default in production ---------------------------------------------
# Behind a proxy that terminates TLS, name the header it sets (for example
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https) or the SSL redirect loops.
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (
    tuple(part.strip() for part in _proxy_ssl_header.split(",")) if _proxy_ssl_header else None
)
if SECURE_PROXY_SSL_HEADER is not None and len(SECURE_PROXY_SSL_HEADER) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be a header and a value, e.g. HTTP_X_FORWARDED_PROTO,https."
    )
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_q",
    "django_htmx",
    "audiencesync.accounts",
    "audiencesync.workspaces",
    "partners",
    "partners.sandbox",
    "canvas",
    "audiencesync.sync",
    "audiencesync.proofs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audiencesync.workspaces.middleware.CurrentWorkspaceMiddleware",
]

ROOT_URLCONF = "audiencesync.urls"
WSGI_APPLICATION = "audiencesync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "audiencesync.workspaces.context_processors.workspace",
                "partners.context_processors.partner_names",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------
# Embedded default: one SQLite file shared by the web server and the workers. WAL lets
# readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
# writers queue on the busy timeout instead of failing with "database is locked".
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'audiencesync.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory: the workers a test starts are other processes. One per test run,
    # so two runs on one machine never share (and destroy) each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Two PostgreSQL features SQLite goes without, on purpose: the event summaries' indexes carry
# extra columns so segment filters read the index alone (W040; SQLite keeps the key columns),
# and a step's unique position checked at commit so two steps can swap places (W038; on SQLite
# the services that add, move and remove steps are what keep positions unique).
SILENCED_SYSTEM_CHECKS = ["models.W040", "models.W038"]

REDIS_URL = env.str("REDIS_URL", default="")
# Connect and socket timeout of every Redis client (cache, broker, rate limiter): a stalled
# Redis is an error the sync loops ride out, not a hang.
REDIS_TIMEOUT_S = env.float("REDIS_TIMEOUT_S", default=2.0)

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                    "OPTIONS": {"socket_timeout": REDIS_TIMEOUT_S,
                                "socket_connect_timeout": REDIS_TIMEOUT_S}}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "audiencesync_cache",
        }
    }

# --- background work (django-q2) -------------------------------------------------
# The outbox rows own retries (see the README), so django-q2 never re-runs a task on
# its own: max_attempts 1. timeout < retry, as django-q2 requires.
Q_CLUSTER = {
    # Clusters sharing a broker must share the name; a separate deployment picks its own.
    "name": env.str("Q_NAME", default="audiencesync"),
    "workers": max(2, env.int("Q_WORKERS", default=4)),
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_TIMEOUT", default=120) + 60,
    "max_attempts": 1,
    "queue_limit": 50,
    "catch_up": False,
    "save_limit": 500,
    "ack_failures": True,
    "poll": 0.2,
}
if REDIS_URL:
    # The broker waits up to 1 s in BLPOP, on top of the timeout.
    Q_CLUSTER["redis"] = REDIS_URL + ("&" if "?" in REDIS_URL else "?") + urlencode(
        {"socket_timeout": REDIS_TIMEOUT_S + 1, "socket_connect_timeout": REDIS_TIMEOUT_S})
else:
    Q_CLUSTER["orm"] = "default"

# --- accounts (django-allauth) ------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_ADAPTER = "audiencesync.accounts.adapter.AccountAdapter"
ACCOUNT_SESSION_REMEMBER = True
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# --- email verification and invitations ------------------------------------------------
# Nobody logs in before proving they own their address: an invitation goes to an address,
# so only its owner may take it. Mandatory verification is also what lets allauth answer
# sign-up and password reset alike whether or not the address has an account.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# An invitation link is good for this many days, then the admin invites again.
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", default=7)
# EMAIL_URL as django-environ reads it, e.g. smtp+tls://user:password@mail.example.com:587;
# unset, mail is printed to the console (`manage.py check --deploy` warns in production).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="audiencesync@localhost")
# ----------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- static files ----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# A full partner batch or a 10,000-user entries call is a few MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# --- partners ------------------------------------------------------------------------------
# With PARTNER_SANDBOX the sandbox is mounted under SITE_URL/sandbox/ and every partner URL
# that is not set explicitly points at it; an explicit URL always wins.
PARTNER_SANDBOX = env.bool("PARTNER_SANDBOX", default=DEBUG)
SANDBOX_STATE_PATH = env.str("SANDBOX_STATE_PATH", default=str(VAR_DIR / "sandbox.sqlite3"))
_SANDBOX_BASE = f"{SITE_URL}/sandbox"
if PARTNER_SANDBOX:
    from audiencesync.devkeys import local_secret

    # The mounted sandbox's controls and record answer staff, or a tool sending this token
    # (the demo, the benchmark and the tests read it here).
    SANDBOX_CONTROL_TOKEN = env.str("SANDBOX_CONTROL_TOKEN", default="") or local_secret(
        VAR_DIR / "sandbox-control.token"
    )
# The redirect_uris the sandbox's apps have registered: its consent pages send users back
# to these only. The product's own callbacks by default (comma-separated).
SANDBOX_TIKTOK_REDIRECT_URIS = env.str(
    "SANDBOX_TIKTOK_REDIRECT_URIS", default=f"{SITE_URL}/partners/tiktok/callback/"
)
SANDBOX_PINTEREST_REDIRECT_URIS = env.str(
    "SANDBOX_PINTEREST_REDIRECT_URIS", default=f"{SITE_URL}/partners/pinterest/callback/"
)


def _partner_url(name: str, real: str, sandbox: str, *, trailing_slash: bool) -> str:
    url = env.str(name, default="") or (sandbox if PARTNER_SANDBOX else real)
    url = url.rstrip("/")
    return url + "/" if trailing_slash else url


TIKTOK_API_BASE_URL = _partner_url(
    "TIKTOK_API_BASE_URL", "https://business-api.tiktok.com/open_api/v1.3",
    f"{_SANDBOX_BASE}/open_api/v1.3", trailing_slash=True,
)
TIKTOK_AUTHORIZE_URL = _partner_url(
    "TIKTOK_AUTHORIZE_URL", "https://business-api.tiktok.com/portal/auth",
    f"{_SANDBOX_BASE}/portal/auth", trailing_slash=False,
)
PINTEREST_API_BASE_URL = _partner_url(
    "PINTEREST_API_BASE_URL", "https://api.pinterest.com/v5", f"{_SANDBOX_BASE}/v5",
    trailing_slash=True,
)
PINTEREST_AUTHORIZE_URL = _partner_url(
    "PINTEREST_AUTHORIZE_URL", "https://www.pinterest.com/oauth", f"{_SANDBOX_BASE}/oauth",
    trailing_slash=True,
)
# The sandbox knows these credentials; real ones come from the partners' developer portals.
_sandbox_creds = PARTNER_SANDBOX
TIKTOK_APP_ID = env.str("TIKTOK_APP_ID", default="sandbox-tiktok-app" if _sandbox_creds else "")
TIKTOK_SECRET = env.str("TIKTOK_SECRET", default="sandbox-tiktok-secret" if _sandbox_creds else "")
PINTEREST_CLIENT_ID = env.str(
    "PINTEREST_CLIENT_ID", default="sandbox-pinterest-app" if _sandbox_creds else ""
)
PINTEREST_CLIENT_SECRET = env.str(
    "PINTEREST_CLIENT_SECRET", default="sandbox-pinterest-secret" if _sandbox_creds else ""
)
# Documented limits (PARTNER_APIS.md); the product aims just under the rate.
TIKTOK_MAX_BATCH = env.int("TIKTOK_MAX_BATCH", default=10_000)
# TikTok limits each developer app by its tier: requests per second, minute and day. A new
# app starts at Basic and is raised one tier at a time; TIKTOK_APP_TIER sets all three,
# TIKTOK_RATE_PER_S / _PER_MIN / _PER_DAY override one.
TIKTOK_APP_TIERS = {
    "basic": (10.0, 600, 864_000),
    "advanced": (20.0, 1_200, 1_728_000),
    "premium": (30.0, 1_800, 2_592_000),
    "ultimate": (50.0, 3_000, 4_320_000),
}
TIKTOK_APP_TIER = env.str("TIKTOK_APP_TIER", default="basic").strip().lower()
if TIKTOK_APP_TIER not in TIKTOK_APP_TIERS:
    raise ImproperlyConfigured(
        f"TIKTOK_APP_TIER is {TIKTOK_APP_TIER!r}; it must be one of "
        f"{', '.join(TIKTOK_APP_TIERS)} (the tier of your TikTok developer app).")
_tier = TIKTOK_APP_TIERS[TIKTOK_APP_TIER]
TIKTOK_RATE_PER_S = env.float("TIKTOK_RATE_PER_S", default=_tier[0])
TIKTOK_RATE_PER_MIN = env.int("TIKTOK_RATE_PER_MIN", default=_tier[1])
TIKTOK_RATE_PER_DAY = env.int("TIKTOK_RATE_PER_DAY", default=_tier[2])
for _name in ("TIKTOK_RATE_PER_S", "TIKTOK_RATE_PER_MIN", "TIKTOK_RATE_PER_DAY"):
    if vars()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be positive, not {vars()[_name]}.")
TIKTOK_MAX_AUDIENCES = env.int("TIKTOK_MAX_AUDIENCES", default=400)
PINTEREST_MAX_BATCH = env.int("PINTEREST_MAX_BATCH", default=1_900)
PINTEREST_RATE_PER_S = env.float("PINTEREST_RATE_PER_S", default=7.0)
PARTNER_HTTP_TIMEOUT = env.float("PARTNER_HTTP_TIMEOUT", default=30.0)

# Fernet keys, comma-separated, newest first (MultiFernet: old keys still decrypt).
# In DEBUG a local key is made in VAR_DIR on first use when none is set.
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS", default=[])
if not TOKEN_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS must be set when DEBUG is false.")
    from audiencesync.devkeys import local_token_key

    TOKEN_ENCRYPTION_KEYS = [local_token_key(VAR_DIR / "token-encryption.key")]

# The shared rate limiter's window is this much longer than the partner's one second,
# so clock granularity and network jitter never push a partner over its limit.
RATE_LIMIT_MARGIN = env.float("RATE_LIMIT_MARGIN", default=0.05)
# A worker sleeps this long at most for a rate slot; a scope whose minute or day budget is
# spent for longer pauses instead (its users wait, no worker does).
RATE_LIMIT_MAX_SLEEP_S = env.float("RATE_LIMIT_MAX_SLEEP_S", default=10.0)
# The limiter's counted windows and a shift added to its store's clock: tests set them to
# reach the next minute or day without waiting (time control cannot move Redis's clock).
RATE_LIMIT_MINUTE_S = 60.0
RATE_LIMIT_DAY_S = 86_400.0  # counted from 00:00 UTC, as TikTok counts its days
RATE_LIMIT_CLOCK_SHIFT_S = 0.0

# --- sync engine -------------------------------------------------------------------------------
SYNC_RETRY_WINDOW = env.int("SYNC_RETRY_WINDOW", default=13 * 3600)  # seconds
# The batch lease: how long a worker has to send a batch it claimed before the batch is
# taken for lost and sent again (apart from the dispatcher's own short lease in the cache).
# SYNC_LEASE_SECONDS, its earlier name, is still read.
SYNC_BATCH_LEASE_SECONDS = env.int("SYNC_BATCH_LEASE_SECONDS",
                                   default=env.int("SYNC_LEASE_SECONDS", default=90))
SYNC_BACKOFF_BASE = env.float("SYNC_BACKOFF_BASE", default=2.0)
SYNC_BACKOFF_MAX = env.float("SYNC_BACKOFF_MAX", default=900.0)
# Sender loops kept running by the dispatcher; leave at least one django-q2 worker free.
SYNC_SENDERS = env.int("SYNC_SENDERS", default=max(1, Q_CLUSTER["workers"] - 2))
SYNC_DISPATCHER_SECONDS = env.int("SYNC_DISPATCHER_SECONDS", default=100)
SYNC_TICK_SECONDS = env.float("SYNC_TICK_SECONDS", default=0.25)
SYNC_ITEM_RETENTION_DAYS = env.int("SYNC_ITEM_RETENTION_DAYS", default=30)
# When a profile's ad-tracking consent turns off (entries API, import), remove it from every
# audience the product put it in.
REMOVE_ON_CONSENT_WITHDRAWN = env.bool("REMOVE_ON_CONSENT_WITHDRAWN", default=True)
# The most users one entries API call may hold (413 above it): a product limit, apart from
# any partner's batch size (the engine batches for each partner whatever a call holds).
ENTRIES_API_MAX_USERS = env.int("ENTRIES_API_MAX_USERS", default=10_000)
if ENTRIES_API_MAX_USERS < 1:
    raise ImproperlyConfigured("ENTRIES_API_MAX_USERS must be at least 1.")
# Raw custom events older than this are purged (their per-profile summaries and daily
# counts stay); the track API refuses events older than it.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=90)
if EVENT_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("EVENT_RETENTION_DAYS must be at least 1.")
# The most attribute items and the most events one track API call may hold (413 above it).
TRACK_API_MAX_ITEMS = env.int("TRACK_API_MAX_ITEMS", default=10_000)
# Users let out of a stopped canvas per transaction (their exits counted, their removes on
# exit queued); a stop does this for up to CANVAS_STOP_INLINE_SECONDS in its request, the
# dispatcher's tick does the rest, a chunk per tick.
CANVAS_EXIT_CHUNK = env.int("CANVAS_EXIT_CHUNK", default=10_000)
if CANVAS_EXIT_CHUNK < 1:
    raise ImproperlyConfigured("CANVAS_EXIT_CHUNK must be at least 1.")
CANVAS_STOP_INLINE_SECONDS = env.float("CANVAS_STOP_INLINE_SECONDS", default=2.0)
# How often a canvas that is not scheduled checks its exit segment (a scheduled canvas
# checks it at each of its runs).
CANVAS_EXIT_CHECK_MINUTES = env.int("CANVAS_EXIT_CHECK_MINUTES", default=15)
if CANVAS_EXIT_CHECK_MINUTES < 1:
    raise ImproperlyConfigured("CANVAS_EXIT_CHECK_MINUTES must be at least 1.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Every line is scrubbed of tokens, secrets and query strings, whoever logs it.
    "filters": {"redact": {"()": "partners.http.SecretRedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
logging.captureWarnings(True)
