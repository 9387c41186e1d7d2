"""gunicorn settings, each overridable from the environment."""

import gc
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


def post_worker_init(worker):
    """Once a worker has loaded the app, move everything alive then (modules, the app, its
    database and LiteLLM clients) out of the garbage collector's reach: a collection of the
    oldest generation otherwise visits all of it again, and a cold view of an organisation's
    usage starts dozens of them."""
    gc.collect()
    gc.freeze()
