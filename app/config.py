"""Configuration read from environment variables.

Values are read when a config object is built (inside ``create_app``), never at import time,
so tests and commands can set the environment first.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from app.services.litellm.settings import LiteLLMSettings

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "DATABASE_URL", "LITELLM_BASE_URL", "LITELLM_MASTER_KEY")
AUTH_MODES = ("header", "dev", "oidc")
REQUIRED_FOR_OIDC = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")
# gunicorn threads per worker (gunicorn.conf.py reads this too). The portal mostly waits on
# LiteLLM and the database, so threads are cheap; having far more threads than LiteLLM slots
# is what keeps /healthz and database-only pages answering while LiteLLM hangs.
DEFAULT_GUNICORN_THREADS = 32


class ConfigError(RuntimeError):
    """Start-up refused because of a configuration problem; the message names the variable."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    # "null"/"none" come from templated deployment files that rendered an unset value.
    if value is None or value.strip() == "" or value.strip().lower() in ("null", "none"):
        return default
    return value.strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _env_bool(name: str) -> bool:
    return (_env(name) or "").lower() in ("1", "true", "yes", "on")


def _csv(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


class Config:
    """Settings with safe development defaults."""

    DEFAULT_PORTAL_ENV = "development"

    def __init__(self) -> None:
        self.PORTAL_ENV = _env("PORTAL_ENV", self.DEFAULT_PORTAL_ENV)
        self.SECRET_KEY = _env("SECRET_KEY", "dev-only-insecure-secret-key")
        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")  # None: SQLite in the instance folder
        self.LITELLM_BASE_URL = _env("LITELLM_BASE_URL", "http://127.0.0.1:4000")
        self.LITELLM_MASTER_KEY = _env("LITELLM_MASTER_KEY", "sk-sim-master-0123456789")
        # Page views and exports must answer while LiteLLM hangs: a short read timeout (GETs,
        # never re-sent after a timeout); key create/revoke POSTs wait longer (their outcome
        # is unknown after a timeout); maintenance commands longer still.
        self.LITELLM_TIMEOUT = _env_float("LITELLM_TIMEOUT", 5)
        # Once a view's call timed out (LiteLLM hangs), views wait this long instead, so each
        # page answers within a second with cached data or the error panel (see .hang_guard).
        self.LITELLM_TIMEOUT_WHILE_HANGING = _env_float("LITELLM_TIMEOUT_WHILE_HANGING", 1)
        self.LITELLM_WRITE_TIMEOUT = _env_float("LITELLM_WRITE_TIMEOUT", 15)
        self.LITELLM_MAINTENANCE_TIMEOUT = _env_float("LITELLM_MAINTENANCE_TIMEOUT", 30)
        self.LITELLM_CONNECT_TIMEOUT = _env_float("LITELLM_CONNECT_TIMEOUT", 3.05)
        # Upstream calls in flight per process: half of gunicorn's threads, so a hanging
        # LiteLLM leaves the other half for pages that do not need it (and for /healthz).
        self.LITELLM_MAX_CONCURRENCY = _env_int(
            "LITELLM_MAX_CONCURRENCY",
            max(1, _env_int("GUNICORN_THREADS", DEFAULT_GUNICORN_THREADS) // 2),
        )
        self.LITELLM_CONCURRENCY_WAIT = _env_float("LITELLM_CONCURRENCY_WAIT", 0.5)
        self.LITELLM_KEY_LIST_TTL = _env_int("LITELLM_KEY_LIST_TTL", 300)
        # A UTC day's usage once LiteLLM's batch writer is done with it does not change: kept
        # a day. Days that may still change use LITELLM_USAGE_TODAY_TTL.
        self.LITELLM_USAGE_TTL = _env_int("LITELLM_USAGE_TTL", 86400)
        # A day counts as settled this long after it ended (batch writer delay plus a margin).
        self.LITELLM_USAGE_SETTLE_SECONDS = _env_int("LITELLM_USAGE_SETTLE_SECONDS", 600)
        # One usage view: calls at once, calls in all, seconds before refusing the range.
        self.LITELLM_USAGE_FETCH_CONCURRENCY = _env_int("LITELLM_USAGE_FETCH_CONCURRENCY", 4)
        self.LITELLM_USAGE_MAX_CALLS = _env_int("LITELLM_USAGE_MAX_CALLS", 250)
        self.LITELLM_USAGE_DEADLINE = _env_float("LITELLM_USAGE_DEADLINE", 30)
        # LiteLLM writes usage 10-60 s late: ranges that reach the last minutes stay cached
        # only briefly, so a view just after a request does not keep showing "nothing yet".
        self.LITELLM_USAGE_TODAY_TTL = _env_int("LITELLM_USAGE_TODAY_TTL", 15)
        self.LITELLM_MAX_PAGES = _env_int("LITELLM_MAX_PAGES", 50)
        self.LITELLM_RETRIES = _env_int("LITELLM_RETRIES", 2)
        self.LITELLM_RETRY_BACKOFF = _env_float("LITELLM_RETRY_BACKOFF", 0.2)
        self.HTTP_CACHE_URL = _env("HTTP_CACHE_URL", "")  # "" = SQLite file in the instance folder
        self.AUTH_MODE = _env("AUTH_MODE", "header" if self.is_production else "dev")
        self.AUTH_HEADER = _env("AUTH_HEADER", "X-Forwarded-Email")
        self.TRUSTED_PROXY_IPS = _csv(_env("TRUSTED_PROXY_IPS"))
        self.ADMIN_EMAILS = tuple(_admin_email(e) for e in _csv(_env("ADMIN_EMAILS")))
        self.OIDC_ISSUER = _env("OIDC_ISSUER")
        self.OIDC_CLIENT_ID = _env("OIDC_CLIENT_ID")
        self.OIDC_CLIENT_SECRET = _env("OIDC_CLIENT_SECRET")
        self.OIDC_SCOPES = _env("OIDC_SCOPES", "openid email profile")
        self.OIDC_REDIRECT_URI = _env("OIDC_REDIRECT_URI")  # None: derived from the request
        self.OIDC_ADMIN_GROUPS = _csv(_env("OIDC_ADMIN_GROUPS"))
        self.OIDC_GROUPS_CLAIM = _env("OIDC_GROUPS_CLAIM", "groups")
        self.OIDC_ALLOW_UNVERIFIED_EMAIL = _env_bool("OIDC_ALLOW_UNVERIFIED_EMAIL")
        self.OIDC_TIMEOUT = _env_float("OIDC_TIMEOUT", 5)
        # How long a sign-in lasts (dev and oidc sessions); then the user signs in again.
        self.PERMANENT_SESSION_LIFETIME = _env_int("SESSION_LIFETIME", 8 * 3600)
        self.RATE_LIMIT_KEY_CREATE = _env("RATE_LIMIT_KEY_CREATE", "10/hour")
        # Each rotation may leave a grace secret: counted per key owner like creations.
        self.RATE_LIMIT_KEY_ROTATE = _env("RATE_LIMIT_KEY_ROTATE", "10/hour")
        # The longest lifetime a key may be given (days); LiteLLM overflows past year 9999.
        self.KEY_MAX_LIFETIME_DAYS = _env_int("KEY_MAX_LIFETIME_DAYS", 3650)
        # Written into every key's LiteLLM metadata; reconcile deletes only keys that carry it.
        # Unset: derived from the database URL, which every instance of one deployment shares.
        self.PORTAL_DEPLOYMENT_ID = _env("PORTAL_DEPLOYMENT_ID")
        # An http:// OIDC issuer is refused in production unless this says otherwise (tests).
        self.OIDC_ALLOW_HTTP_ISSUER = _env_bool("OIDC_ALLOW_HTTP_ISSUER")
        self.RATE_LIMIT_USAGE_REFRESH = _env("RATE_LIMIT_USAGE_REFRESH", "30/minute")
        self.LOG_LEVEL = _env("LOG_LEVEL", "INFO")
        # Every form here is a few hundred bytes; larger bodies are refused (413) unread.
        self.MAX_CONTENT_LENGTH = 64 * 1024
        # The CSRF token lasts as long as the session (which SESSION_LIFETIME already bounds),
        # so a form left open for an hour still posts. Not checking Referer on HTTPS keeps the
        # token the one test: a proxy that rewrites Host, or a browser that strips Referer,
        # would otherwise refuse every form.
        self.WTF_CSRF_TIME_LIMIT = None
        self.WTF_CSRF_SSL_STRICT = False
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.is_production
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Seconds to wait for a PostgreSQL connection; without it an unreachable host holds a
        # request (and /readyz) for the OS connect timeout, minutes on some networks.
        self.DATABASE_CONNECT_TIMEOUT = _env_int("DATABASE_CONNECT_TIMEOUT", 5)

    @property
    def is_production(self) -> bool:
        return self.PORTAL_ENV == "production"

    def validate(self) -> None:
        """Raise ConfigError naming every missing or malformed variable."""
        if self.is_production:
            missing = [name for name in REQUIRED_IN_PRODUCTION if _env(name) is None]
            if missing:
                raise ConfigError(
                    "missing required environment variables for production: " + ", ".join(missing)
                )
        if self.AUTH_MODE not in AUTH_MODES:
            raise ConfigError(
                f"AUTH_MODE must be one of {', '.join(AUTH_MODES)}, got {self.AUTH_MODE!r}"
            )
        if self.is_production and self.AUTH_MODE == "dev":
            raise ConfigError("AUTH_MODE=dev is refused when PORTAL_ENV=production")
        if self.AUTH_MODE == "oidc":
            _check_oidc(self)
        for name in ("RATE_LIMIT_KEY_CREATE", "RATE_LIMIT_KEY_ROTATE", "RATE_LIMIT_USAGE_REFRESH"):
            _check_rate(name, getattr(self, name))
        if self.KEY_MAX_LIFETIME_DAYS < 1:
            raise ConfigError("KEY_MAX_LIFETIME_DAYS must be at least 1")
        if self.PERMANENT_SESSION_LIFETIME < 60:
            raise ConfigError("SESSION_LIFETIME must be at least 60 seconds")
        _check_trusted_proxies(self.TRUSTED_PROXY_IPS)
        if self.is_production and self.AUTH_MODE == "header" and not self.TRUSTED_PROXY_IPS:
            # Unset would let any client that reaches the port sign in as anyone.
            raise ConfigError(
                "TRUSTED_PROXY_IPS is required with AUTH_MODE=header in production: the sign-in "
                "proxy's IPs/CIDRs, or * to trust every peer"
            )
        url = urlsplit(self.LITELLM_BASE_URL or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(
                f"LITELLM_BASE_URL must be an http(s) URL, got {self.LITELLM_BASE_URL!r}"
            )
        if self.SQLALCHEMY_DATABASE_URI is not None:
            _check_database_url(self.SQLALCHEMY_DATABASE_URI)
        if self.LITELLM_MAX_CONCURRENCY < 1:
            raise ConfigError(
                f"LITELLM_MAX_CONCURRENCY must be at least 1, got {self.LITELLM_MAX_CONCURRENCY}"
            )
        _check_litellm_numbers(self)
        if self.DATABASE_CONNECT_TIMEOUT < 1:
            raise ConfigError(
                f"DATABASE_CONNECT_TIMEOUT must be at least 1 second, "
                f"got {self.DATABASE_CONNECT_TIMEOUT}"
            )

    def as_mapping(self) -> dict:
        """Upper-case settings as a dict for ``app.config.update``."""
        values = {name: getattr(self, name) for name in dir(self) if name.isupper()}
        values["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
            self.SQLALCHEMY_DATABASE_URI,
            self.SQLALCHEMY_ENGINE_OPTIONS,
            self.DATABASE_CONNECT_TIMEOUT,
        )
        return values


def _check_litellm_numbers(config: Config) -> None:
    timeouts = (
        "LITELLM_TIMEOUT",
        "LITELLM_TIMEOUT_WHILE_HANGING",
        "LITELLM_WRITE_TIMEOUT",
        "LITELLM_MAINTENANCE_TIMEOUT",
        "LITELLM_CONNECT_TIMEOUT",
    )
    for name in timeouts:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds")
    for name in ("LITELLM_MAX_PAGES", "LITELLM_USAGE_FETCH_CONCURRENCY", "LITELLM_USAGE_MAX_CALLS"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.LITELLM_USAGE_DEADLINE <= 0:
        raise ConfigError("LITELLM_USAGE_DEADLINE must be a positive number of seconds")
    not_negative = (
        "LITELLM_CONCURRENCY_WAIT",
        "LITELLM_RETRIES",
        "LITELLM_RETRY_BACKOFF",
        "LITELLM_KEY_LIST_TTL",
        "LITELLM_USAGE_TTL",
        "LITELLM_USAGE_TODAY_TTL",
        "LITELLM_USAGE_SETTLE_SECONDS",
    )
    for name in not_negative:
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must not be negative")


def litellm_settings(config: Mapping[str, Any], *, maintenance: bool = False) -> LiteLLMSettings:
    """The LiteLLM client's settings, taken from the app's configuration as it is (read and
    checked once, by :class:`Config`).

    ``maintenance=True`` is for commands such as ``flask backfill-tokens``, which nobody waits
    on in a browser: reads get ``LITELLM_MAINTENANCE_TIMEOUT`` and one retry after a read
    timeout.
    """
    from app.services.litellm.settings import LiteLLMSettings

    read_timeout = "LITELLM_MAINTENANCE_TIMEOUT" if maintenance else "LITELLM_TIMEOUT"
    return LiteLLMSettings(
        base_url=config["LITELLM_BASE_URL"],
        master_key=config["LITELLM_MASTER_KEY"],
        connect_timeout=config["LITELLM_CONNECT_TIMEOUT"],
        read_timeout=config[read_timeout],
        write_timeout=config["LITELLM_WRITE_TIMEOUT"],
        retry_read_timeouts=maintenance,
        read_timeout_while_hanging=None if maintenance else config["LITELLM_TIMEOUT_WHILE_HANGING"],
        retries=config["LITELLM_RETRIES"],
        backoff_factor=config["LITELLM_RETRY_BACKOFF"],
        max_concurrency=config["LITELLM_MAX_CONCURRENCY"],
        concurrency_wait=config["LITELLM_CONCURRENCY_WAIT"],
        key_list_ttl=config["LITELLM_KEY_LIST_TTL"],
        usage_ttl=config["LITELLM_USAGE_TTL"],
        usage_today_ttl=config["LITELLM_USAGE_TODAY_TTL"],
        max_pages=config["LITELLM_MAX_PAGES"],
        usage_settle_seconds=config["LITELLM_USAGE_SETTLE_SECONDS"],
        usage_fetch_concurrency=config["LITELLM_USAGE_FETCH_CONCURRENCY"],
        usage_max_calls=config["LITELLM_USAGE_MAX_CALLS"],
        usage_deadline=config["LITELLM_USAGE_DEADLINE"],
    )


def engine_options(url: str | None, options: dict, connect_timeout: int) -> dict:
    """``options`` plus ``connect_args={"connect_timeout": …}`` for a PostgreSQL URL.

    Decided here, from the final URL, because tests and subclasses set the URL after
    ``__init__``; SQLite's driver has no such argument. A ``connect_timeout`` already in the
    URL's query or in ``options`` wins (SQLAlchemy would let connect_args override the URL).
    """
    if not url:
        return options
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return options
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return options
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", connect_timeout)
    return {**options, "connect_args": connect_args}


def _check_oidc(config: Config) -> None:
    missing = [name for name in REQUIRED_FOR_OIDC if not getattr(config, name)]
    if missing:
        raise ConfigError("AUTH_MODE=oidc needs " + ", ".join(missing))
    for name in ("OIDC_ISSUER", "OIDC_REDIRECT_URI"):
        url = urlsplit(getattr(config, name) or "http://set")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(f"{name} must be an http(s) URL, got {getattr(config, name)!r}")
    if config.is_production and not config.OIDC_REDIRECT_URI:
        # Derived from the request, the callback would follow whatever Host a client sends.
        raise ConfigError("OIDC_REDIRECT_URI is required with AUTH_MODE=oidc in production")
    issuer = urlsplit(config.OIDC_ISSUER)
    if config.is_production and issuer.scheme != "https" and not config.OIDC_ALLOW_HTTP_ISSUER:
        raise ConfigError(
            "OIDC_ISSUER must be an https URL in production "
            "(OIDC_ALLOW_HTTP_ISSUER=true allows http, for tests only)"
        )
    if "openid" not in config.OIDC_SCOPES.split():
        raise ConfigError(f"OIDC_SCOPES must include openid, got {config.OIDC_SCOPES!r}")
    if config.OIDC_TIMEOUT <= 0:
        raise ConfigError("OIDC_TIMEOUT must be a positive number of seconds")


_RATE_RE = re.compile(r"^[0-9]+/(second|minute|hour|day)$", re.I)  # app.ratelimit's forms


def _admin_email(value: str) -> str:
    from app.emails import normalize_email  # a leaf module: no import cycle

    email = normalize_email(value)
    if email is None:
        raise ConfigError(f"ADMIN_EMAILS: {value!r} is not an e-mail address the portal accepts")
    return email


def _check_rate(name: str, spec: str) -> None:
    if not _RATE_RE.match(spec.replace(" ", "")):
        raise ConfigError(
            f"{name} must look like 10/hour (second, minute, hour, day), got {spec!r}"
        )


def _check_trusted_proxies(entries: tuple[str, ...]) -> None:
    if "*" in entries:
        if len(entries) > 1:
            raise ConfigError("TRUSTED_PROXY_IPS: * already trusts every peer; list nothing else")
        return
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"TRUSTED_PROXY_IPS: {entry!r} is not an IP address or network (CIDR)"
            ) from None


def _check_database_url(value: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL is not a valid database URL: {value.split('@')[-1]!r}"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL must be sqlite or postgresql, got {url.get_backend_name()!r}"
        )


class TestingConfig(Config):
    """In-memory database and cache; dev sign-in."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.PORTAL_ENV = "testing"
        self.SECRET_KEY = "testing-secret"
        self.SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL", "sqlite://")
        self.HTTP_CACHE_URL = "memory"
        self.LITELLM_BASE_URL = "http://127.0.0.1:9"  # tests point this at the simulator
        self.LITELLM_MASTER_KEY = "sk-sim-master-0123456789"
        self.AUTH_MODE = "dev"
        self.ADMIN_EMAILS = ("admin@example.com",)
        self.RATE_LIMIT_KEY_CREATE = "1000/hour"
        self.RATE_LIMIT_KEY_ROTATE = "1000/hour"
        self.RATE_LIMIT_USAGE_REFRESH = "1000/minute"
        self.SESSION_COOKIE_SECURE = False


class ProductionConfig(Config):
    """Production: header sign-in, secure cookies, every required variable present."""

    DEFAULT_PORTAL_ENV = "production"  # the defaults below PORTAL_ENV are production's

    def __init__(self) -> None:
        super().__init__()
        self.PORTAL_ENV = "production"


def config_from_environment() -> Config:
    """Pick the config class from PORTAL_ENV."""
    return ProductionConfig() if _env("PORTAL_ENV") == "production" else Config()
