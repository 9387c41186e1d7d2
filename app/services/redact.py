"""Keep LiteLLM secrets and sign-in credentials out of logs.

``redact()`` masks anything that looks like a LiteLLM virtual key (``sk-`` followed by at least six
url-safe characters), a JSON Web Token (OpenID ID and access tokens) and the ``code``/``state``
values of an OpenID callback URL. ``RedactingFilter`` applies it to every log record that passes
through a handler, and additionally removes configured literal secrets such as the master key,
which need not start with ``sk-``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "sk-…REDACTED"

# ``sk-`` + 6 or more url-safe characters. A leading word boundary avoids hitting words such as
# "task-runner"; LiteLLM's abbreviated ``key_name`` ("sk-...yBnA") has dots and is left alone.
_SECRET_RE = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{6,}")
# Three base64url parts, the first a JSON header ("eyJ" is base64 for '{"').
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# A callback's one-time code, and state, in a URL or form body.
_CALLBACK_PARAM_RE = re.compile(r"(?<![A-Za-z0-9_])(code|state|id_token_hint)=[^&\s\"']+")

# Standard LogRecord attributes that never carry user data; everything else (``extra=`` fields)
# is scrubbed if it is a string.
_RESERVED = frozenset(
    {
        "name",
        "levelname",
        "levelno",
        "pathname",
        "filename",
        "module",
        "funcName",
        "lineno",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "threadName",
        "process",
        "processName",
        "taskName",
        "stack_info",
        "exc_info",
        "msg",
        "args",
    }
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return *text* with LiteLLM-looking secrets and the given literal *secrets* masked."""
    if not isinstance(text, str) or not text:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _JWT_RE.sub("…REDACTED-TOKEN", text)
    text = _CALLBACK_PARAM_RE.sub(r"\1=…REDACTED", text)
    return _SECRET_RE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in a record's message, arguments, traceback text and
    string ``extra`` attributes.

    Attach it to handlers (``handler.addFilter(RedactingFilter(master_key=...))``) so that records
    from every logger are covered. It never drops a record.
    """

    def __init__(self, master_key: str | None = None, extra_secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in (master_key, *extra_secrets) if s)

    def _clean(self, value):
        if isinstance(value, str):
            return redact(value, self._secrets)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        # Render the message first so secrets inside non-string args (exceptions, dicts) are
        # caught too; then clear args so the handler does not re-format.
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = self._clean(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
            # The formatter would re-render exc_info (unredacted) if exc_text were empty; keep
            # exc_info for tooling but the cached, redacted exc_text is what gets printed.
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        for attr, value in list(vars(record).items()):
            if attr not in _RESERVED and isinstance(value, str):
                setattr(record, attr, self._clean(value))
        return True
