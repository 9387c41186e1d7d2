"""The create-key form: parse, validate, and keep what was typed for re-rendering."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.services.keys import LABEL_MAX, NewKeyRequest

NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
DURATION_RE = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d|w|mo)$")
MODEL_RE = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_MODELS = 50
MAX_BUDGET = 1_000_000_000


def new_idempotency_token() -> str:
    """A fresh one-time token for one rendering of the create form."""
    return secrets.token_urlsafe(24)


@dataclass
class CreateKeyForm:
    """Raw values as typed (for re-rendering) and field-level errors. ``label`` is what the
    owner types in the field shown as "Name" (form field ``name``); the LiteLLM alias is made
    from it (``api_keys.alias``)."""

    label: str = ""
    max_budget: str = ""
    duration: str = ""
    models: str = ""
    idempotency_token: str = field(default_factory=new_idempotency_token)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # form-level: LiteLLM refused, rate limit, storage failure

    @classmethod
    def from_form(cls, data: Mapping[str, str]) -> CreateKeyForm:
        return cls(
            label=(data.get("name") or "").strip(),
            max_budget=(data.get("max_budget") or "").strip(),
            duration=(data.get("duration") or "").strip(),
            models=(data.get("models") or "").strip(),
            idempotency_token=(data.get("idempotency_token") or "").strip(),
        )

    def validate(self) -> NewKeyRequest | None:
        """The validated request, or None with ``errors`` filled in."""
        self.errors = {}
        if not self.label:
            self.errors["name"] = "Enter a name for the key."
        elif len(self.label) > LABEL_MAX:
            self.errors["name"] = f"Use at most {LABEL_MAX} characters."
        elif not NAME_RE.match(self.label):
            self.errors["name"] = "Use only letters, digits, “-”, “_” and “.”."

        budget: float | None = None
        if self.max_budget:
            try:
                budget = float(self.max_budget)
            except ValueError:
                self.errors["max_budget"] = "Enter an amount in USD, e.g. 25 or 12.50."
            else:
                if not math.isfinite(budget):
                    self.errors["max_budget"] = "Enter an amount in USD, e.g. 25 or 12.50."
                elif budget < 0:
                    self.errors["max_budget"] = "The budget cannot be negative."
                elif budget > MAX_BUDGET:
                    self.errors["max_budget"] = "That budget is too large."

        if self.duration and not DURATION_RE.match(self.duration):
            self.errors["duration"] = (
                "Use a number and a unit: s, m, h, d, w or mo (e.g. 30d, 12h, 6mo)."
            )

        models = tuple(part.strip() for part in self.models.split(",") if part.strip())
        bad = [m for m in models if not MODEL_RE.match(m)]
        if bad:
            self.errors["models"] = f"Not a model name: {bad[0][:60]}"
        elif len(models) > MAX_MODELS:
            self.errors["models"] = f"List at most {MAX_MODELS} models."

        if not TOKEN_RE.match(self.idempotency_token):
            # Not a field the person can fix: reload gives a fresh form.
            self.error = "This form has expired. Reload the page and try again."
            self.idempotency_token = new_idempotency_token()
            return None
        if self.errors:
            return None
        return NewKeyRequest(
            label=self.label,
            idempotency_token=self.idempotency_token,
            max_budget=budget,
            duration=self.duration or None,
            models=tuple(dict.fromkeys(models)),
        )
