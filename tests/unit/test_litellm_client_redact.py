"""app.services.redact: masking LiteLLM secrets in text and log records."""

from __future__ import annotations

import logging

import pytest

from app.services.redact import REDACTED, RedactingFilter, redact

MASTER = "master-without-prefix-42"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-Xq3v9Lw2Kd8PzR1mT6yBnA here", f"key {REDACTED} here"),
        ("Bearer sk-abc_DEF-123", f"Bearer {REDACTED}"),
        ("'sk-abcdef'", f"'{REDACTED}'"),
        ("sk-...yBnA is an abbreviation", "sk-...yBnA is an abbreviation"),
        ("sk-short", "sk-short"),
        ("task-runner and disk-usage", "task-runner and disk-usage"),
        ("", ""),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_redact_removes_literal_secrets():
    assert redact(f"auth {MASTER}!", [MASTER]) == f"auth {REDACTED}!"


def make_record(msg, args=(), exc_info=None, **extra):
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_filter_scrubs_message_args_extra_and_exception():
    secret = "sk-LeakedSecretValue99"
    try:
        raise RuntimeError(f"failed with {secret} and {MASTER}")
    except RuntimeError:
        import sys

        record = make_record("got %s / %r", (secret, {"k": MASTER}), sys.exc_info(), note=secret)
    assert RedactingFilter(master_key=MASTER).filter(record) is True
    formatted = logging.Formatter("%(message)s %(note)s").format(record)
    assert secret not in formatted and MASTER not in formatted
    assert REDACTED in formatted and "RuntimeError" in formatted


def test_filter_on_a_handler_covers_all_loggers(caplog):
    handler = caplog.handler
    handler.addFilter(RedactingFilter(master_key=MASTER))
    try:
        logging.getLogger("anything.else").warning("key=%s", MASTER)
    finally:
        handler.removeFilter(handler.filters[-1])
    assert MASTER not in caplog.text and REDACTED in caplog.text


def test_filter_survives_bad_format_args():
    record = make_record("%d items", ("sk-notanumber123",))
    RedactingFilter().filter(record)
    assert "sk-notanumber123" not in record.getMessage()
