"""One way to compare e-mail addresses, in every sign-in mode and in ``ADMIN_EMAILS``.

Addresses are compared in their NFKC case-folded form, so ``Kate@Example.com`` and
``kate@example.com`` are one person. Folding must never turn one person's address into
another's: ``str.lower()`` maps U+212A KELVIN SIGN to ASCII ``k``, so ``\u212aate@example.com``
would sign in as ``kate@example.com``. An address with a non-ASCII character that folds onto
ASCII letters or digits (the Kelvin sign, fullwidth letters, ``ß`` → ``ss``) is refused.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

EMAIL_RE = re.compile(
    r"^[^@\s<>\"'(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
MAX_LENGTH = 320


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def looks_like_ascii(char: str) -> bool:
    """True for a non-ASCII character whose folded form holds ASCII (a look-alike)."""
    return not char.isascii() and any(c.isascii() for c in _fold(char))


def normalize_email(value: object) -> str | None:
    """The address trimmed and NFKC case-folded, or None when it is no e-mail address or holds
    a character that folds onto ASCII. Anything but a string is None too (a malformed claim)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if any(looks_like_ascii(char) for char in value):
        return None
    folded = _fold(value)
    if len(folded) > MAX_LENGTH or not EMAIL_RE.match(folded):
        return None
    return folded


def wrap_email(value: object) -> Markup:
    """An address that a narrow column breaks after its ``@`` and dots, never mid-word
    (``<wbr>`` break opportunities; the text itself is unchanged and escaped)."""
    text = str(escape(value if value is not None else ""))
    return Markup(re.sub(r"([@.])", r"\1<wbr>", text))


def init_app(app) -> None:
    app.add_template_filter(wrap_email, "wrap_email")
