"""The app factory under each configuration, and start-up refusals."""

from __future__ import annotations

import pytest

from app import ConfigError, create_app
from app.config import Config, ProductionConfig, config_from_environment

PROD_ENV = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "s3cret-for-tests",
    "DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal",
    "LITELLM_BASE_URL": "http://litellm.internal:4000",
    "LITELLM_MASTER_KEY": "sk-master-for-tests-123456",
    "TRUSTED_PROXY_IPS": "10.0.0.0/24",
}


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(PROD_ENV) + ["AUTH_MODE", "AUTH_HEADER", "ADMIN_EMAILS", "HTTP_CACHE_URL"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_development_defaults(clean_env):
    app = create_app()
    assert app.config["AUTH_MODE"] == "dev"
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("portal.sqlite")
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_testing_config(app):
    assert app.config["TESTING"] is True
    assert app.config["HTTP_CACHE_URL"] == "memory"


def test_production_config_complete(clean_env):
    for name, value in PROD_ENV.items():
        clean_env.setenv(name, value)
    config = config_from_environment()
    assert isinstance(config, ProductionConfig)
    app = create_app(config)
    assert app.config["AUTH_MODE"] == "header"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_production_refusal_names_every_missing_variable(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("SECRET_KEY", "set")
    clean_env.setenv("LITELLM_MASTER_KEY", "null")  # rendered-but-unset counts as missing
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    message = str(excinfo.value)
    assert "DATABASE_URL" in message and "LITELLM_BASE_URL" in message
    assert "LITELLM_MASTER_KEY" in message
    assert "SECRET_KEY" not in message


def test_dev_auth_refused_in_production(clean_env):
    for name, value in PROD_ENV.items():
        clean_env.setenv(name, value)
    clean_env.setenv("AUTH_MODE", "dev")
    with pytest.raises(ConfigError, match="AUTH_MODE=dev"):
        create_app()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTH_MODE", "magic"),
        ("DATABASE_URL", "not a url at all"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("LITELLM_BASE_URL", "litellm:4000"),
        ("LITELLM_BASE_URL", "ftp://litellm"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    assert variable in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_factory_does_no_database_or_network_work(clean_env, tmp_path):
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/never-created.sqlite")
    clean_env.setenv("LITELLM_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    app = create_app(Config())
    assert app.extensions["litellm"] is None  # built on first use
    assert not (tmp_path / "never-created.sqlite").exists()


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_litellm_tuning_variables_reach_the_client(clean_env, tmp_path):
    clean_env.setenv("LITELLM_USAGE_TTL", "42")
    clean_env.setenv("LITELLM_KEY_LIST_TTL", "7")
    clean_env.setenv("LITELLM_TIMEOUT", "11")
    clean_env.setenv("LITELLM_RETRIES", "0")
    clean_env.setenv("HTTP_CACHE_URL", "memory")
    clean_env.setenv("LITELLM_USAGE_SETTLE_SECONDS", "90")
    clean_env.setenv("LITELLM_USAGE_FETCH_CONCURRENCY", "3")
    clean_env.setenv("LITELLM_USAGE_MAX_CALLS", "77")
    clean_env.setenv("LITELLM_USAGE_DEADLINE", "12.5")
    app = create_app(Config())
    with app.app_context():
        from app.services import litellm_client

        client = litellm_client()
    assert app.extensions["litellm"] is client  # built once, then reused
    assert client.settings.read_timeouts == (3.05, 11.0)
    assert client.settings.usage_today_ttl == 15
    assert client.http.session.settings.urls_expire_after == {"*/key/list": 7}
    settings = client.usage_days.settings
    assert (settings.usage_ttl, settings.usage_settle_seconds) == (42, 90)
    assert (settings.usage_fetch_concurrency, settings.usage_max_calls) == (3, 77)
    assert settings.usage_deadline == 12.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LITELLM_USAGE_FETCH_CONCURRENCY", "0"),
        ("LITELLM_USAGE_MAX_CALLS", "0"),
        ("LITELLM_USAGE_DEADLINE", "0"),
        ("LITELLM_USAGE_SETTLE_SECONDS", "-1"),
    ],
)
def test_usage_fetch_bounds_must_make_sense(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        create_app()


def test_malformed_number_names_the_variable(clean_env):
    clean_env.setenv("LITELLM_CONNECT_TIMEOUT", "fast")
    with pytest.raises(ConfigError, match="LITELLM_CONNECT_TIMEOUT"):
        create_app()


PG_URL = "postgresql+psycopg://portal@db.internal/portal"


def test_postgres_gets_a_connect_timeout(clean_env):
    clean_env.delenv("DATABASE_CONNECT_TIMEOUT", raising=False)
    clean_env.setenv("DATABASE_URL", PG_URL)
    options = create_app(Config()).config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"connect_timeout": 5}
    assert options["pool_pre_ping"] is True  # the other options are kept
    clean_env.setenv("DATABASE_CONNECT_TIMEOUT", "2")
    options = create_app(Config()).config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"connect_timeout": 2}


def test_connect_timeout_only_for_postgres_and_never_over_the_urls_own(clean_env):
    clean_env.delenv("DATABASE_CONNECT_TIMEOUT", raising=False)
    clean_env.setenv("DATABASE_URL", "sqlite:////tmp/portal-config-test.sqlite")
    assert "connect_args" not in create_app(Config()).config["SQLALCHEMY_ENGINE_OPTIONS"]
    clean_env.setenv("DATABASE_URL", PG_URL + "?connect_timeout=9")
    assert "connect_args" not in create_app(Config()).config["SQLALCHEMY_ENGINE_OPTIONS"]
    # A subclass or test that sets the URL after __init__ still gets it.
    config = Config()
    config.SQLALCHEMY_DATABASE_URI = PG_URL
    config.SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"sslmode": "require"}}
    options = create_app(config).config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"sslmode": "require", "connect_timeout": 5}


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_database_connect_timeout_names_the_variable(clean_env, value):
    clean_env.setenv("DATABASE_CONNECT_TIMEOUT", value)
    with pytest.raises(ConfigError, match="DATABASE_CONNECT_TIMEOUT"):
        create_app()


@pytest.mark.parametrize("value", [None, "", "null"])
def test_header_sign_in_in_production_refuses_to_start_without_trusted_proxies(clean_env, value):
    """Unset, any client that reaches the port could sign in as anyone (admins included)."""
    for name, setting in PROD_ENV.items():
        clean_env.setenv(name, setting)
    if value is None:
        clean_env.delenv("TRUSTED_PROXY_IPS")
    else:
        clean_env.setenv("TRUSTED_PROXY_IPS", value)
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    message = str(excinfo.value)
    assert message.startswith("TRUSTED_PROXY_IPS is required") and "\n" not in message


def test_trusted_proxies_may_stay_empty_outside_production(clean_env):
    clean_env.delenv("TRUSTED_PROXY_IPS", raising=False)
    clean_env.setenv("AUTH_MODE", "header")
    assert create_app().config["TRUSTED_PROXY_IPS"] == ()


@pytest.mark.parametrize(
    "value", ["not-an-ip", "10.0.0.5,proxy.internal", "10.0.0.0/33", "*,10.0.0.5"]
)
def test_malformed_trusted_proxies_stop_start_up(clean_env, value):
    """A typo used to trust nobody without a word (every sign-in a 401); "*" beside addresses
    is ambiguous."""
    clean_env.setenv("TRUSTED_PROXY_IPS", value)
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    assert str(excinfo.value).startswith("TRUSTED_PROXY_IPS") and "\n" not in str(excinfo.value)
