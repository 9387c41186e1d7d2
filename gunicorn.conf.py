"""gunicorn settings, each overridable from the environment."""

import os

from app.config import DEFAULT_GUNICORN_THREADS

# GUNICORN_BIND wins; otherwise PORT (what most platforms set) on every interface.
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS") or DEFAULT_GUNICORN_THREADS)
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# Access lines come from the portal's own structured request log.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
