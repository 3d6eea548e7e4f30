"""Voronka settings: everything comes from the environment, parsed strictly (config/env.py).

VORONKA_ENV=production switches on the hardened profile (DEBUG off, secure cookies, HSTS,
API docs behind login); it then requires VORONKA_SECRET_KEY and VORONKA_ALLOWED_HOSTS.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from voronka.config.env import env_bool, env_int, env_list, env_str
from voronka.config.logs import django_logging

SRC_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = SRC_DIR.parent.parent
DATA_DIR = Path(env_str("VORONKA_DATA_DIR", str(REPO_DIR / "var"))).resolve()

VORONKA_ENV = env_str("VORONKA_ENV", "development")
if VORONKA_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("VORONKA_ENV must be development, production or test")
PRODUCTION = VORONKA_ENV == "production"

DEBUG = env_bool("VORONKA_DEBUG", not PRODUCTION and VORONKA_ENV != "test")
if PRODUCTION:
    SECRET_KEY = env_str("VORONKA_SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("VORONKA_SECRET_KEY must be at least 50 characters")
    ALLOWED_HOSTS = env_list("VORONKA_ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("VORONKA_ALLOWED_HOSTS is required in production")
else:
    SECRET_KEY = env_str("VORONKA_SECRET_KEY", "dev-insecure-" + "x" * 50)
    ALLOWED_HOSTS = env_list("VORONKA_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "csp",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "voronka.kernel",
    "voronka.identity",
    "voronka.customfields",
    "voronka.contacts",
    "voronka.deals",
    "voronka.activities",
    "voronka.automation",
    "voronka.transfer",
    "voronka.integrations",
    "voronka.web",
    "voronka.demo",
]

MIDDLEWARE = [
    # Outermost: every /api/ answer is JSON, request limits answer 413 (config/api_errors.py).
    "voronka.config.api_errors.ApiErrorMiddleware",
    "voronka.config.security.RejectTraceMiddleware",
    "voronka.config.security.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "voronka.web.static_files.CollectedFirstWhiteNoiseMiddleware",
    # HTML and JSON gzip-compressed (the board: ~190 KB → ~15 KB on the wire). Below WhiteNoise,
    # which serves static files compressed ahead of time; above every middleware that reads or
    # writes the body. Django's GZip pads each answer at random against BREACH (Django 4.2+).
    "django.middleware.gzip.GZipMiddleware",
    "voronka.web.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "voronka.web.middleware.LoginRequiredMiddleware",
    "voronka.web.middleware.TwoFactorRequiredMiddleware",
    "voronka.web.middleware.UserLanguageMiddleware",
    "axes.middleware.AxesMiddleware",
    # Innermost: the product's 404/500 pages for HTML pages in DEBUG too (web/error_pages.py).
    "voronka.web.error_pages.ProductErrorPagesMiddleware",
]

ROOT_URLCONF = "voronka.config.urls"
WSGI_APPLICATION = "voronka.config.wsgi.application"
AUTH_USER_MODEL = "identity.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "web:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "voronka.web.context_processors.navigation",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'voronka.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("VORONKA_CONN_MAX_AGE", 600))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE: writers queue on the busy timeout instead of failing with "database is
    # locked" on lock upgrade (measured: DEFERRED lost 372 of 400 concurrent updates).
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            " PRAGMA busy_timeout=30000; PRAGMA cache_size=-20000;"
        ),
    }
else:
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work (Django Tasks API, DB backend, separate worker process) ----------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Auth and security ----------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (docs/decisions/0005-login-throttling.md): lockout for 15 minutes after
# VORONKA_LOGIN_FAILURE_LIMIT failures per username+IP (guessing one password) or after
# VORONKA_LOGIN_IP_FAILURE_LIMIT failures per IP (spraying one password over many users).
# X-Forwarded-For counts only behind VORONKA_TRUSTED_PROXY_COUNT reverse proxies.
AXES_FAILURE_LIMIT = env_int("VORONKA_LOGIN_FAILURE_LIMIT", 10)
VORONKA_LOGIN_IP_FAILURE_LIMIT = env_int("VORONKA_LOGIN_IP_FAILURE_LIMIT", 30)
AXES_COOLOFF_TIME = 0.25  # hours = 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "voronka.config.security.TieredAxesHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/lockout.html"
VORONKA_TRUSTED_PROXY_COUNT = env_int("VORONKA_TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "voronka.config.security.client_ip"
AXES_ENABLED = env_bool("VORONKA_AXES_ENABLED", True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# An absolute lifetime counted from login (the session is not re-saved on every request), which
# also bounds idle time. Logout deletes the session server-side; login rotates its key.
SESSION_COOKIE_AGE = env_int("VORONKA_SESSION_AGE", 12 * 3600)
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
# Flash messages live in the session: no extra cookie outside the __Host- names.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    LANGUAGE_COOKIE_NAME = "__Host-language"
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("VORONKA_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("VORONKA_CSRF_TRUSTED_ORIGINS", [])

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Owner and admin accounts must turn on an authenticator app (TOTP) before they can work:
# "required" (the production default) or "optional" (anyone may turn it on).
VORONKA_2FA_ADMINS = env_str("VORONKA_2FA_ADMINS", "required" if PRODUCTION else "optional")
if VORONKA_2FA_ADMINS not in {"required", "optional"}:
    raise ImproperlyConfigured("VORONKA_2FA_ADMINS must be required or optional")
# The OpenAPI docs are public only while developing.
VORONKA_API_DOCS_PUBLIC = env_bool("VORONKA_API_DOCS_PUBLIC", not PRODUCTION)

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Русский")), ("en", _("English"))]
LOCALE_PATHS = [SRC_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Moscow"
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns in every process when it is missing
_NODE = REPO_DIR / "node_modules"
STATICFILES_DIRS = [
    ("vendor/htmx", _NODE / "htmx.org" / "dist"),
    ("vendor/sortablejs", _NODE / "sortablejs"),
    ("vendor/chartjs", _NODE / "chart.js" / "dist"),
]
STATICFILES_DIRS = [(prefix, path) for prefix, path in STATICFILES_DIRS if path.exists()]
# collectstatic (`voronka serve` runs it) writes a .gz twin of each text file that WhiteNoise
# serves to clients that accept gzip; the finders serve what is not collected (development, tests;
# web/static_files.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = DATA_DIR / "files"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
VORONKA_MAX_UPLOAD_BYTES = env_int("VORONKA_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)

EMAIL_BACKEND = env_str(
    "VORONKA_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if "VORONKA_SMTP_HOST" in __import__("os").environ
    else "django.core.mail.backends.filebased.EmailBackend",
)
# Without an SMTP server (development, the demo) e-mails are written to files here.
EMAIL_FILE_PATH = DATA_DIR / "outbox"

# One format and zone (UTC) for web and task worker, one handler per record (config/logs.py).
LOGGING = django_logging(env_str("VORONKA_LOG_LEVEL", "WARNING").upper())
LOGIN_URL_PATH = "/login/"

# --- Notifications ----------------------------------------------------------------------------
VORONKA_BASE_URL = env_str("VORONKA_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env_str("VORONKA_FROM_EMAIL", "voronka@localhost")
EMAIL_HOST = env_str("VORONKA_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("VORONKA_SMTP_PORT", 25)
EMAIL_HOST_USER = env_str("VORONKA_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_str("VORONKA_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("VORONKA_SMTP_STARTTLS", False)
EMAIL_TIMEOUT = 20
# Hours after the deadline before an overdue task is escalated to the responsible's head.
VORONKA_OVERDUE_HEAD_GRACE_HOURS = env_int("VORONKA_OVERDUE_HEAD_GRACE_HOURS", 24)
# How long a worker holds a claimed automation run before another may take it over (fencing
# makes a late finish harmless); longer than a batch of runs takes.
VORONKA_AUTOMATION_LEASE_SECONDS = env_int("VORONKA_AUTOMATION_LEASE_SECONDS", 60)
# Executor threads per worker process: each claims and runs its own batches (a slow action — a
# webhook, a big document — holds one thread, not the worker). SQLite has one writer at a time
# and an action runs inside its run's transaction, so more threads there only queue.
VORONKA_WORKER_EXECUTORS = env_int("VORONKA_WORKER_EXECUTORS", 2, minimum=1)

# --- Events and the schedule (decision 0012) -------------------------------------------------
# Days an outbox event is kept after every consumer has handled it, and a finished schedule claim.
VORONKA_EVENT_RETENTION_DAYS = env_int("VORONKA_EVENT_RETENTION_DAYS", 30, minimum=1)
VORONKA_SCHEDULED_RUN_RETENTION_DAYS = env_int("VORONKA_SCHEDULED_RUN_RETENTION_DAYS", 7, minimum=1)
# Finished rule runs planned for events are deleted after this many days (kept for the rule's
# history screen meanwhile); the runs of monitors stay: they are the ledger of what was done.
VORONKA_RULE_RUN_RETENTION_DAYS = env_int("VORONKA_RULE_RUN_RETENTION_DAYS", 30, minimum=1)

# --- Outgoing webhooks (decision 0016) -------------------------------------------------------
# Deliver to private, loopback and link-local addresses too (a receiver on the same host or LAN).
# Off by default: a webhook URL is a request the server makes on a user's behalf (SSRF).
VORONKA_WEBHOOK_ALLOW_PRIVATE = env_bool("VORONKA_WEBHOOK_ALLOW_PRIVATE", False)
# Days a finished delivery (delivered, failed, cancelled) is kept.
VORONKA_WEBHOOK_RETENTION_DAYS = env_int("VORONKA_WEBHOOK_RETENTION_DAYS", 30, minimum=1)
