"""Settings for the Integration Hub.

Everything comes from the environment with a safe local default, so `make run` needs no
configuration and production sets only what differs. Nothing here is production-only.
"""

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


VAR_DIR = Path(env_str("HUB_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core --------------------------------------------------------------------------------------

# The local default is only good for a developer machine; production sets DJANGO_SECRET_KEY.
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "local-only-insecure-key-set-DJANGO_SECRET_KEY-in-production")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# How many reverse proxies in front of the hub append to X-Forwarded-For (0: trust REMOTE_ADDR only).
HUB_TRUSTED_PROXY_COUNT = env_int("HUB_TRUSTED_PROXY_COUNT", 0)
HUB_PUBLIC_URL = env_str("HUB_PUBLIC_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "oauth2_provider",
    "django_q",
    "auditlog",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "hub",
    "sync",
    "eligibility",
    "intake",
    "notify",  # patient SMS through Twilio (issue 8)
    "payments",  # copay and balance payments through Clover (issue 8)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "hub.middleware.CorrelationIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hub.middleware.AuditActorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"

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
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'hub.sqlite3'}")
DATABASES: dict[str, dict[str, Any]] = {
    "default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("HUB_DB_CONN_MAX_AGE", 60)))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "hub.db.sqlite3"  # writers take turns (see its docstring)
    # Connections are kept like PostgreSQL's: opening one (and its PRAGMAs) per request or task
    # costs about a millisecond, a large share of a webhook's acknowledgement.
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two writers queue up
        # instead of deadlocking on a lock upgrade; WAL lets readers run beside one writer.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Queue (django-q2) -------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "")
# The ORM broker sits on the business database, so a task enqueued inside a transaction is
# committed or rolled back with it. With Redis, enqueueing happens on commit and the scheduled
# sweeper re-enqueues whatever a lost message left behind: the row is the truth, never the task.
Q_CLUSTER: dict[str, Any] = {
    "name": "hub",
    "workers": env_int("HUB_Q_WORKERS", 2),
    "recycle": 500,
    "timeout": env_int("HUB_Q_TIMEOUT", 120),
    "retry": env_int("HUB_Q_RETRY", 300),
    "max_attempts": 5,
    "ack_failures": False,
    "queue_limit": 20,
    # Successful task results are not kept (the rows are the record); failures always are.
    "save_limit": env_int("HUB_Q_SAVE_LIMIT", -1),
    "poll": env_float("HUB_Q_POLL", 0.02),
    "catch_up": False,
    "label": "Task queue",
}
# Wake-up tasks of one drain function allowed to wait unstarted (more would only lengthen the
# queue), and how old such a count may be before it is no longer trusted (a lost message).
HUB_NUDGES_WAITING = env_int("HUB_NUDGES_WAITING", max(2, Q_CLUSTER["workers"]))
HUB_NUDGE_STALE_SECONDS = env_int("HUB_NUDGE_STALE_SECONDS", 30)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth and sessions -------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff sessions end after 15 idle minutes (the expiry is pushed forward on every request).
SESSION_COOKIE_AGE = env_int("HUB_SESSION_IDLE_SECONDS", 15 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("HUB_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Every role that sees PHI signs in with a second factor; switched off only for local demos.
HUB_REQUIRE_2FA = env_bool("HUB_REQUIRE_2FA", True)
AXES_FAILURE_LIMIT = env_int("HUB_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("HUB_LOGIN_COOLOFF_HOURS", 0.5)
AXES_RESET_ON_SUCCESS = True
# Lock the account, not the address: a clinic's front desk shares one NAT address, and locking it
# would lock out every colleague at once.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
LOGIN_URL = "admin:login"

# --- API (portal) ------------------------------------------------------------------------------

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth2_provider.contrib.rest_framework.OAuth2Authentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "intake.api.problems.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Integration Hub portal API",
    "DESCRIPTION": "Portal-facing API of the Integration Hub: submissions are written to athenaOne exactly once.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "SexEnum": ["F", "M", "U"],
        "ContactPreferenceEnum": "hub.models.Patient.ContactPreference",
        "PaymentKindEnum": "payments.models.Payment.Kind",
        "PaymentOperationKindEnum": "payments.models.PaymentOperation.Kind",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "intake.api.schema.document_problem_responses",
    ],
}
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("HUB_PORTAL_TOKEN_SECONDS", 900),
    "SCOPES": {
        "read": "Read patients, submissions, slots and events of granted locations",
        "patients:write": "Register patients and update demographics",
        "intake:write": "Submit intake forms and consents",
        "insurance:write": "Submit insurance and card images",
        "appointments:write": "Book, cancel, reschedule and check in",
        "payments:write": "Create and complete copay payments",
    },
    # A token asked for without a scope gets only "read", never every scope.
    "DEFAULT_SCOPES": ["read"],
    "OAUTH2_VALIDATOR_CLASS": "intake.oauth.PortalOAuth2Validator",
}
# How long a rotated-out portal client secret keeps working, so the portal can roll without downtime.
HUB_PORTAL_SECRET_OVERLAP_HOURS = env_int("HUB_PORTAL_SECRET_OVERLAP_HOURS", 24)
HUB_IDEMPOTENCY_KEY_TTL_HOURS = env_int("HUB_IDEMPOTENCY_KEY_TTL_HOURS", 48)
# Open-slot searches are answered from a cache this long (0: always ask athena); any appointment
# change the hub learns of at a location forgets that location's searches at once.
HUB_SLOT_CACHE_SECONDS = env_int("HUB_SLOT_CACHE_SECONDS", 20)

# --- athenaOne -----------------------------------------------------------------------------------

ATHENA_BASE_URL = env_str("ATHENA_BASE_URL", "http://127.0.0.1:8100")
ATHENA_PRACTICE_ID = env_str("ATHENA_PRACTICE_ID", "195900")
# The sandbox accepts these out of the box; production sets real credentials.
ATHENA_CLIENT_ID = env_str("ATHENA_CLIENT_ID", "hub-local-client")
ATHENA_CLIENT_SECRET = env_str("ATHENA_CLIENT_SECRET", "hub-local-secret")
ATHENA_SCOPE = env_str("ATHENA_SCOPE", "athena/service/Athenanet.MDP.*")
ATHENA_CONNECT_TIMEOUT = env_float("ATHENA_CONNECT_TIMEOUT", 5.0)
ATHENA_READ_TIMEOUT = env_float("ATHENA_READ_TIMEOUT", 30.0)
# Requests per second per practice, shared by every worker (athena's real limit is unpublished).
ATHENA_RATE_LIMIT_PER_SECOND = env_float("ATHENA_RATE_LIMIT_PER_SECOND", 10.0)
# The write-back ledger: lease on a claimed intent (longer than any athena call), retry backoff
# base, and the wait before reading athena back after an unknown outcome (default twice the read timeout).
HUB_INTENT_LEASE_SECONDS = env_float("HUB_INTENT_LEASE_SECONDS", 60.0)
HUB_INTENT_BACKOFF_SECONDS = env_float("HUB_INTENT_BACKOFF_SECONDS", 2.0)
HUB_AMBIGUOUS_SETTLE_SECONDS = env_float("HUB_AMBIGUOUS_SETTLE_SECONDS", 2 * ATHENA_READ_TIMEOUT)
# An outside call whose process ended before it wrote the call's audit row is audited by the
# sweeper once it is this old (longer than any call can last).
HUB_INTERRUPTED_CALL_SECONDS = env_float("HUB_INTERRUPTED_CALL_SECONDS", 300)
HUB_INTENT_DRAIN_SECONDS = env_float("HUB_INTENT_DRAIN_SECONDS", 50.0)
# athena's notifications are processed by the receiving web process right after they are
# acknowledged (no queue hop); the sweeper covers a process that dies first.
HUB_INBOUND_FAST_PATH = env_bool("HUB_INBOUND_FAST_PATH", True)
HUB_INBOUND_FAST_PATH_THREADS = env_int("HUB_INBOUND_FAST_PATH_THREADS", 2)
# athena's changed feeds are read in pages, with a pause between pages, so a catch-up read of
# many records does not hold up the webhook path it backs up.
HUB_FEED_PAGE_SIZE = env_int("HUB_FEED_PAGE_SIZE", 200)
HUB_FEED_PAGE_PAUSE_SECONDS = env_float("HUB_FEED_PAGE_PAUSE_SECONDS", 0.2)
HUB_FEED_MAX_PAGES = env_int("HUB_FEED_MAX_PAGES", 50)
ATHENA_WEBHOOK_SECRET = env_str("ATHENA_WEBHOOK_SECRET", "local-athena-webhook-secret")
ATHENA_WEBHOOK_SECRET_PREVIOUS = env_str("ATHENA_WEBHOOK_SECRET_PREVIOUS", "")

# --- Portal --------------------------------------------------------------------------------------

PORTAL_WEBHOOK_URL = env_str("PORTAL_WEBHOOK_URL", "http://127.0.0.1:8100/_portal/webhooks")
PORTAL_WEBHOOK_SECRET = env_str("PORTAL_WEBHOOK_SECRET", "whsec_bG9jYWwtcG9ydGFsLXdlYmhvb2stc2VjcmV0LTAx")
PORTAL_WEBHOOK_SECRET_PREVIOUS = env_str("PORTAL_WEBHOOK_SECRET_PREVIOUS", "")
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8100/_portal")

# --- Patient SMS (Twilio) and payments (Clover) ------------------------------------------------
# The defaults are the sandbox's documented local credentials; production sets every one of them.

TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000001")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "local-twilio-auth-token")
# During an auth-token rotation Twilio may still sign with the old one for a while.
TWILIO_AUTH_TOKEN_PREVIOUS = env_str("TWILIO_AUTH_TOKEN_PREVIOUS", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "+16175550100")
TWILIO_BASE_URL = env_str("TWILIO_BASE_URL", "http://127.0.0.1:8100/_twilio")
TWILIO_STATUS_CALLBACK_URL = env_str("TWILIO_STATUS_CALLBACK_URL", f"{HUB_PUBLIC_URL}/webhooks/twilio/status/")
TWILIO_CONNECT_TIMEOUT = env_float("TWILIO_CONNECT_TIMEOUT", 5.0)
TWILIO_READ_TIMEOUT = env_float("TWILIO_READ_TIMEOUT", 15.0)
# Twilio signs the exact URL it called. Behind a TLS-terminating proxy set the public base URL
# (https://hub.example.org); empty: rebuilt from the request, honouring X-Forwarded-Proto/Host/Port
# only when HUB_TRUSTED_PROXY_COUNT says a proxy is in front.
TWILIO_WEBHOOK_BASE_URL = env_str("TWILIO_WEBHOOK_BASE_URL", "")
# After an unknown send outcome, wait this long before looking for the message in Twilio (a request
# that timed out on our side may still be landing on Twilio's).
NOTIFY_AMBIGUOUS_SETTLE_SECONDS = env_float("NOTIFY_AMBIGUOUS_SETTLE_SECONDS", 30.0)
# Local time window (per location's time zone) in which no SMS goes out; messages due then wait.
NOTIFY_QUIET_HOURS = env_str("NOTIFY_QUIET_HOURS", "21:00-08:00")
# Where message links point: the portal's own pages (no PHI in the link, the portal signs the patient in).
NOTIFY_PORTAL_URL = env_str("NOTIFY_PORTAL_URL", "https://portal.example.test")
# Keyed hash for phone numbers in opt-out rows (derived from SECRET_KEY when empty).
NOTIFY_PHONE_HASH_KEY = env_str("NOTIFY_PHONE_HASH_KEY", "")

CLOVER_BASE_URL = env_str("CLOVER_BASE_URL", "http://127.0.0.1:8100/_clover")
CLOVER_API_TOKEN = env_str("CLOVER_API_TOKEN", "local-clover-private-token")
CLOVER_MERCHANT_ID = env_str("CLOVER_MERCHANT_ID", "SBXMERCHANT01")
CLOVER_WEBHOOK_AUTH_CODE = env_str("CLOVER_WEBHOOK_AUTH_CODE", "local-clover-webhook-auth")
CLOVER_CONNECT_TIMEOUT = env_float("CLOVER_CONNECT_TIMEOUT", 5.0)
CLOVER_READ_TIMEOUT = env_float("CLOVER_READ_TIMEOUT", 30.0)
# How long Clover remembers an Idempotency-Key: past it, a resend could charge again, so an
# unresolved payment is parked for staff instead.
CLOVER_IDEMPOTENCY_WINDOW_HOURS = env_int("CLOVER_IDEMPOTENCY_WINDOW_HOURS", 24)

# --- Data protection ---------------------------------------------------------------------------

# Key for the columns and files the hub encrypts (SSN, card images). The local default is derived
# from SECRET_KEY; production sets its own and keeps it out of the database.
HUB_FIELD_ENCRYPTION_KEY = env_str("HUB_FIELD_ENCRYPTION_KEY", "")
HUB_PRIVATE_MEDIA_DIR = Path(env_str("HUB_PRIVATE_MEDIA_DIR", str(VAR_DIR / "private")))
HUB_PAYLOAD_RETENTION_DAYS = env_int("HUB_PAYLOAD_RETENTION_DAYS", 30)
HUB_AUDIT_RETENTION_DAYS = env_int("HUB_AUDIT_RETENTION_DAYS", 6 * 366)

AUDITLOG_MASK_CALLABLE = "hub.audit.mask_value"
AUDITLOG_CID_GETTER = "hub.context.get_correlation_id"
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- Mail (alerts) -------------------------------------------------------------------------------

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "hub@localhost")
HUB_ALERT_EMAILS = env_list("HUB_ALERT_EMAILS", [])

# --- Internationalisation, static files --------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Logging: no PHI ever reaches a log line; records carry the correlation id. ----------------

LOG_LEVEL = env_str("HUB_LOG_LEVEL", "INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "hub.context.CorrelationIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s cid=%(correlation_id)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["correlation"], "formatter": "plain"},
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(VAR_DIR / "hub.log"),
            "filters": ["correlation"],
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["console", "file"], "level": LOG_LEVEL},
    "loggers": {
        # Request logging would carry query strings; the audit trail records routes instead.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "django-q": {"level": "WARNING"},
        # urllib3's debug lines carry query strings (Twilio's message list filters by phone number).
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- Staff UI: admin site, sign-in, audit browser, retention, alerts, metrics ------------------
# The staff admin is `hub.admin_apps.HubAdminConfig` (Django's admin with a second factor, the
# front-desk home page and the audit browser), so every app's `@admin.register` lands on it.

INSTALLED_APPS = ["hub.admin_apps.HubAdminConfig" if app == "django.contrib.admin" else app for app in INSTALLED_APPS]
# Audits sign-ins whose session ran out while idle (Django drops the session silently).
MIDDLEWARE = [*MIDDLEWARE, "hub.auth_audit.IdleSessionAuditMiddleware"]
AXES_LOCKOUT_TEMPLATE = "hub/locked_out.html"
# axes keeps the form data of failed attempts; a wrong second-factor code counts as one.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "csrfmiddlewaretoken"]
OTP_TOTP_ISSUER = env_str("HUB_TOTP_ISSUER", "Integration Hub")
# Empty: /metrics answers only callers on the loopback interface; set a token to scrape from elsewhere.
HUB_METRICS_TOKEN = env_str("HUB_METRICS_TOKEN", "")
# How often the scheduled purge and alert evaluation run (django-q2 schedules, minutes).
HUB_ALERT_EVALUATE_MINUTES = env_int("HUB_ALERT_EVALUATE_MINUTES", 5)
# An alert closes only after its condition has been absent this long, so a flapping condition
# does not send an open/clear pair every few minutes.
HUB_ALERT_CLEAR_AFTER_MINUTES = env_int("HUB_ALERT_CLEAR_AFTER_MINUTES", 10)
HUB_ALERT_WEBHOOK_FAILURE_MINUTES = env_int("HUB_ALERT_WEBHOOK_FAILURE_MINUTES", 15)
HUB_ALERT_WEBHOOK_FAILURE_THRESHOLD = env_int("HUB_ALERT_WEBHOOK_FAILURE_THRESHOLD", 5)
# A live location (one that has sent events before) with no inbound event for this long, during
# its opening hours in its own time zone, opens an alert.
HUB_ALERT_SILENT_LOCATION_MINUTES = env_int("HUB_ALERT_SILENT_LOCATION_MINUTES", 120)
HUB_ALERT_OPENING_HOURS = env_str("HUB_ALERT_OPENING_HOURS", "8-18")
HUB_ALERT_OPENING_WEEKDAYS = env_str("HUB_ALERT_OPENING_WEEKDAYS", "0-4")
# athena quota: alert when the remaining share of a reported quota falls below this.
HUB_ALERT_QUOTA_REMAINING_RATIO = env_float("HUB_ALERT_QUOTA_REMAINING_RATIO", 0.1)
# Sync work alerts: writes waiting or parked, portal deliveries failing, athena events not processed.
HUB_ALERT_STUCK_WRITES_MINUTES = env_int("HUB_ALERT_STUCK_WRITES_MINUTES", 30)
HUB_ALERT_STUCK_WRITES_THRESHOLD = env_int("HUB_ALERT_STUCK_WRITES_THRESHOLD", 3)
HUB_ALERT_PARKED_THRESHOLD = env_int("HUB_ALERT_PARKED_THRESHOLD", 10)
HUB_ALERT_PORTAL_FAILURE_MINUTES = env_int("HUB_ALERT_PORTAL_FAILURE_MINUTES", 15)
HUB_ALERT_PORTAL_FAILURE_THRESHOLD = env_int("HUB_ALERT_PORTAL_FAILURE_THRESHOLD", 5)
HUB_ALERT_STUCK_EVENTS_MINUTES = env_int("HUB_ALERT_STUCK_EVENTS_MINUTES", 10)
# A full walk of the audit chain runs this often; in between only new rows are checked. A walk
# (~37 s per million rows on SQLite) advances at most this many seconds per scheduled run, and a
# "verify now" from the browser runs inside the request only up to this many rows.
HUB_AUDIT_FULL_VERIFY_HOURS = env_int("HUB_AUDIT_FULL_VERIFY_HOURS", 24)
HUB_AUDIT_VERIFY_BUDGET_SECONDS = env_float("HUB_AUDIT_VERIFY_BUDGET_SECONDS", 60.0)
HUB_AUDIT_VERIFY_INLINE_MAX_ROWS = env_int("HUB_AUDIT_VERIFY_INLINE_MAX_ROWS", 200_000)
# The device admin must never show another user's TOTP secret or QR code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Insurance cards and eligibility (issue 6) ---------------------------------------------------

# Card photos the portal uploads: refused above this size or pixel count (decompression bombs),
# stored encrypted under HUB_PRIVATE_MEDIA_DIR and purged after HUB_PAYLOAD_RETENTION_DAYS.
HUB_CARD_MAX_BYTES = env_int("HUB_CARD_MAX_BYTES", 10 * 1024 * 1024)
HUB_CARD_MAX_PIXELS = env_int("HUB_CARD_MAX_PIXELS", 40_000_000)
# A field read with at least this confidence (0-1) and no confusable characters flows on without
# review; anything less waits in the OCR review queue.
OCR_ACCEPT_CONFIDENCE = env_float("OCR_ACCEPT_CONFIDENCE", 0.9)
# The real-time eligibility clearinghouse (the sandbox's look-alike locally) and the envelope ids
# it knows us by; CLEARINGHOUSE_NAME picks the payer ids of that clearinghouse in the payer list.
CLEARINGHOUSE_NAME = env_str("CLEARINGHOUSE_NAME", "sandbox")
CLEARINGHOUSE_BASE_URL = env_str("CLEARINGHOUSE_BASE_URL", "http://127.0.0.1:8100/_clearinghouse")
CLEARINGHOUSE_CONNECT_TIMEOUT = env_float("CLEARINGHOUSE_CONNECT_TIMEOUT", 5.0)
CLEARINGHOUSE_READ_TIMEOUT = env_float("CLEARINGHOUSE_READ_TIMEOUT", 30.0)
CLEARINGHOUSE_SENDER_ID = env_str("CLEARINGHOUSE_SENDER_ID", "HUBCLINIC")
CLEARINGHOUSE_RECEIVER_ID = env_str("CLEARINGHOUSE_RECEIVER_ID", "PAYERSIM")
# TRN03 of every 270: 10 characters, "9" + 9 assigned digits unless the practice has an EIN ("1...").
CLEARINGHOUSE_ORIGINATOR_ID = env_str("CLEARINGHOUSE_ORIGINATOR_ID", "9195900000")
CLEARINGHOUSE_PRODUCTION = env_bool("CLEARINGHOUSE_PRODUCTION", False)
# Which route runs a check: "clearinghouse" (our own 270) or "athena" (athena's benefitdetails).
# ELIGIBILITY_ROUTE_BY_PAYER overrides it per payer id: "EX001=athena,87726=clearinghouse".
ELIGIBILITY_ROUTE = env_str("ELIGIBILITY_ROUTE", "clearinghouse")
ELIGIBILITY_ROUTE_BY_PAYER = dict(
    item.split("=", 1) for item in env_list("ELIGIBILITY_ROUTE_BY_PAYER", []) if "=" in item
)
# The service type asked about (EQ01): 98 is a professional office visit; per athena appointment
# type id: "52=A3,170=UC".
ELIGIBILITY_SERVICE_TYPE = env_str("ELIGIBILITY_SERVICE_TYPE", "98")
ELIGIBILITY_SERVICE_TYPE_BY_APPOINTMENT_TYPE = dict(
    item.split("=", 1) for item in env_list("ELIGIBILITY_SERVICE_TYPE_BY_APPOINTMENT_TYPE", []) if "=" in item
)
# The NPI a 270 names when the visit's provider has none on file.
ELIGIBILITY_DEFAULT_NPI = env_str("ELIGIBILITY_DEFAULT_NPI", "")
# Re-check coverage of visits in the next N days when the last answer is older than M hours.
ELIGIBILITY_RECHECK_DAYS_AHEAD = env_int("ELIGIBILITY_RECHECK_DAYS_AHEAD", 3)
ELIGIBILITY_RECHECK_AFTER_HOURS = env_int("ELIGIBILITY_RECHECK_AFTER_HOURS", 20)
# athena runs a benefitdetails check in the background: read its answer back this often, this many times.
ELIGIBILITY_ATHENA_POLL_SECONDS = env_float("ELIGIBILITY_ATHENA_POLL_SECONDS", 20.0)
ELIGIBILITY_ATHENA_MAX_POLLS = env_int("ELIGIBILITY_ATHENA_MAX_POLLS", 6)
# Transport failures (timeouts, 5xx) are retried this many times with backoff before the check fails.
ELIGIBILITY_MAX_TRANSPORT_RETRIES = env_int("ELIGIBILITY_MAX_TRANSPORT_RETRIES", 4)
