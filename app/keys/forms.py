"""The create-key form: WTForms checks it; ``CreateKeyForm`` keeps what was typed to show again."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app
from werkzeug.datastructures import MultiDict
from wtforms import Field, FloatField, Form, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
)

from app.services.keys import LABEL_MAX, NewKeyRequest

NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
DURATION_RE = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d|w|mo)$")
MODEL_RE = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_MODELS = 50
MAX_BUDGET = 1_000_000_000
NOT_AN_AMOUNT = "Enter an amount in USD, e.g. 25 or 12.50."
NAME_RULE = "Use only letters a–z or A–Z, digits, “-”, “_” and “.” — no spaces or accents."
# The budget periods offered, as LiteLLM's budget_duration: it resets the key's spend at the next
# midnight (UTC), the next Monday, or the 1st of the next month.
BUDGET_PERIODS = {"": None, "daily": "1d", "weekly": "7d", "monthly": "1mo"}
BUDGET_PERIOD_LABELS = {"": "None", "daily": "Daily", "weekly": "Weekly", "monthly": "Monthly"}
FIELD_NAMES = ("name", "max_budget", "duration", "models", "idempotency_token", "budget_period")


def new_idempotency_token() -> str:
    """A fresh one-time token for one rendering of the create form."""
    return secrets.token_urlsafe(24)


AMOUNT_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # ASCII digits: float() takes "５" and "1_000"
# The lifetime units, in days (LiteLLM's "mo" is a calendar month: 31 days at most).
_UNIT_DAYS = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "mo": 31}


class AmountField(FloatField):
    """A float written in ASCII digits, with the form's own words for text that is no number."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip() and not AMOUNT_RE.match(valuelist[0].strip()):
            self.data = None
            raise ValueError(NOT_AN_AMOUNT)
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(NOT_AN_AMOUNT) from None


def lifetime_within_limit(form, field) -> None:
    """A lifetime no longer than ``KEY_MAX_LIFETIME_DAYS`` (LiteLLM overflows past year 9999)."""
    match = DURATION_RE.match(field.data or "")
    if not match:
        return
    limit = current_app.config["KEY_MAX_LIFETIME_DAYS"]
    if int(match.group(1)) * _UNIT_DAYS[match.group(2)] > limit:
        raise StopValidation(f"A key may live at most {limit:,} days; choose a shorter lifetime.")


def finite(form, field) -> None:
    """ "nan" and "inf" parse as floats but are no amount. Without data, parsing already failed
    (its message is recorded): stop without a second one."""
    if field.data is None:
        raise StopValidation("")
    if not math.isfinite(field.data):
        raise StopValidation(NOT_AN_AMOUNT)


class CommaSeparatedField(Field):
    """``"a, b,,c"`` → ``("a", "b", "c")``."""

    def process_formdata(self, valuelist):
        text = valuelist[0] if valuelist else ""
        self.data = tuple(part.strip() for part in text.split(",") if part.strip())


def model_names(form, field) -> None:
    bad = next((name for name in field.data if not MODEL_RE.match(name)), None)
    if bad is not None:
        raise StopValidation(f"Not a model name: {bad[:60]}")


def _strip(value: str | None) -> str:
    return (value or "").strip()


class CreateKeyFields(Form):
    """The rules. ``name`` is the label the owner types (the LiteLLM alias is made from it)."""

    name = StringField(
        filters=[_strip],
        validators=[
            DataRequired("Enter a name for the key."),
            Length(max=LABEL_MAX, message=f"Use at most {LABEL_MAX} characters."),
            Regexp(NAME_RE, message=NAME_RULE),
        ],
    )
    max_budget = AmountField(
        validators=[
            Optional(),
            finite,
            NumberRange(min=0, message="The budget cannot be negative."),
            NumberRange(max=MAX_BUDGET, message="That budget is too large."),
        ]
    )
    duration = StringField(
        filters=[_strip],
        validators=[
            Optional(),
            Regexp(
                DURATION_RE,
                message="Use a number and a unit: s, m, h, d, w or mo (e.g. 30d, 12h, 6mo).",
            ),
            lifetime_within_limit,
        ],
    )
    models = CommaSeparatedField(
        validators=[
            model_names,
            Length(max=MAX_MODELS, message=f"List at most {MAX_MODELS} models."),
        ]
    )
    budget_period = SelectField(
        choices=list(BUDGET_PERIODS),
        validate_choice=True,
    )
    # Not a field the person can fix: its error is the form's (see CreateKeyForm.validate).
    idempotency_token = StringField(filters=[_strip], validators=[Regexp(TOKEN_RE)])


@dataclass
class CreateKeyForm:
    """Raw values as typed (for re-rendering) and the first error of each field. ``label`` is
    what the owner types in the field shown as "Name" (form field ``name``)."""

    label: str = ""
    max_budget: str = ""
    duration: str = ""
    models: str = ""
    idempotency_token: str = field(default_factory=new_idempotency_token)
    budget_period: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # form-level: LiteLLM refused, rate limit, storage failure

    @classmethod
    def from_form(cls, data: Mapping[str, str]) -> CreateKeyForm:
        name, max_budget, duration, models, token, period = (
            _strip(data.get(f)) for f in FIELD_NAMES
        )
        # The models come as one text field, or as one checkbox value each.
        getlist = getattr(data, "getlist", None)
        if getlist is not None and len(getlist("models")) > 1:
            models = ",".join(_strip(m) for m in getlist("models"))
        return cls(name, max_budget, duration, models, token, period)

    @property
    def first_invalid(self) -> str | None:
        """The first field (in the form's order) with an error: it gets the focus."""
        return next((name for name in FIELD_NAMES if name in self.errors), None)

    @property
    def chosen_models(self) -> tuple[str, ...]:
        """The models as typed or ticked (for re-rendering the checkboxes)."""
        return tuple(m.strip() for m in self.models.split(",") if m.strip())

    def validate(self, offered_models: tuple[str, ...] | None = None) -> NewKeyRequest | None:
        """The validated request, or None with ``errors`` (or ``error``) filled in.

        ``offered_models`` is LiteLLM's model list when it could be read: a model outside it is
        refused here, with the list, rather than by LiteLLM later.
        """
        typed = (
            self.label,
            self.max_budget,
            self.duration,
            self.models,
            self.idempotency_token,
            self.budget_period,
        )
        fields = CreateKeyFields(MultiDict(zip(FIELD_NAMES, typed, strict=True)))
        fields.validate()
        self.errors = {
            name: messages[0]
            for name, messages in fields.errors.items()
            if name != "idempotency_token"
        }
        if "budget_period" in self.errors:
            self.errors["budget_period"] = "Choose none, daily, weekly or monthly."
        if offered_models and "models" not in self.errors:
            unknown = [m for m in fields.models.data if m not in offered_models]
            if unknown:
                self.errors["models"] = (
                    f"LiteLLM has no model “{unknown[0][:60]}”. Choose from: "
                    + ", ".join(offered_models)
                    + "."
                )
        if fields.idempotency_token.errors:
            # Reload gives a fresh form.
            self.error = "This form has expired. Reload the page and try again."
            self.idempotency_token = new_idempotency_token()
            return None
        if self.errors:
            return None
        return NewKeyRequest(
            label=fields.name.data,
            idempotency_token=fields.idempotency_token.data,
            max_budget=fields.max_budget.data,
            duration=fields.duration.data or None,
            models=tuple(dict.fromkeys(fields.models.data)),
            budget_duration=BUDGET_PERIODS[fields.budget_period.data],
        )
