"""LiteLLM Key Portal: self-service keys and per-key usage in front of a LiteLLM proxy."""

from __future__ import annotations

from flask import Flask

from app.config import Config, ConfigError, config_from_environment

__all__ = ["create_app", "ConfigError"]


def create_app(config: Config | None = None) -> Flask:
    """Build the portal. Does no database or network work: those happen on first use."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    config = config or config_from_environment()
    config.validate()
    app.config.update(config.as_mapping())
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{app.instance_path}/portal.sqlite"

    from app import emails, errors, ids, logs, security, sqlite
    from app.extensions import csrf, db, htmx, migrate
    from app.services import init_services

    db.init_app(app)
    sqlite.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    htmx.init_app(app)
    logs.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    ids.init_app(app)
    emails.init_app(app)
    init_services(app)

    from app.admin import bp as admin_bp
    from app.auth import bp as auth_bp
    from app.keys import bp as keys_bp
    from app.main import bp as main_bp
    from app.usage import bp as usage_bp

    for blueprint in (main_bp, auth_bp, keys_bp, usage_bp, admin_bp):
        app.register_blueprint(blueprint)

    from app import cli

    cli.init_app(app)
    return app


def _migrations_dir() -> str:
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
