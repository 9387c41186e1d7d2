"""Deterministic demo data: three users, their keys, 90 days of usage relative to today (UTC)."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .state import SimState
from .values import hash_token, utcnow

DEMO_USERS: tuple[str, ...] = ("alice@example.com", "bob@example.com", "carol@example.com")
_DEVICES: dict[str, tuple[str, ...]] = {
    "alice@example.com": ("laptop", "ci", "notebook"),
    "bob@example.com": ("laptop", "server"),
    "carol@example.com": ("laptop", "batch", "scripts"),
}
# (model, provider, USD per 1M input tokens, per 1M output tokens)
MODELS: tuple[tuple[str, str, float, float], ...] = (
    ("gpt-4o-mini", "openai", 0.15, 0.60),
    ("gpt-4o", "openai", 2.50, 10.00),
    ("claude-sonnet-4", "anthropic", 3.00, 15.00),
    ("mistral-large", "mistral", 2.00, 6.00),
)
DAYS = 90
_SEED = 20261120


def slug(user_id: str) -> str:
    """``alice@example.com`` → ``alice-example.com``: the alias prefix the portal itself uses."""
    return "".join(
        c if (c.isascii() and c.isalnum()) or c in "._-" else "-" for c in user_id.lower()
    )


def demo_created_at(today: datetime | None = None) -> datetime:
    """When the demo keys were made: ten days before their ``DAYS`` days of usage begin, so
    the portal's rows (``flask seed-demo``) and LiteLLM agree on each key's whole life."""
    day0 = (today or utcnow()).astimezone(UTC).date()
    return datetime.combine(day0 - timedelta(days=DAYS + 10), datetime.min.time(), UTC)


def demo_keys() -> list[dict[str, Any]]:
    """The demo keys: ``alias``, ``user_id``, ``token`` (sha256) and ``secret`` (raw ``sk-``).

    Secrets are derived from a fixed string, so every process (portal seed, simulator)
    computes the same tokens.
    """
    out = []
    created = demo_created_at()
    for user in DEMO_USERS:
        for device in _DEVICES[user]:
            alias = f"{slug(user)}--{device}"
            secret = "sk-demo-" + hashlib.sha256(f"litellm-sim/{alias}".encode()).hexdigest()[:22]
            out.append(
                {"alias": alias, "user_id": user, "token": hash_token(secret), "secret": secret,
                 "created_at": created + timedelta(hours=len(out))}
            )  # fmt: skip
    return out


def price(model: str, prompt: int, completion: int, cache_read: int, cache_write: int) -> float:
    """Spend in USD: cache reads at 10% and cache writes at 125% of the input price."""
    for name, _provider, p_in, p_out in MODELS:
        if name == model:
            tokens_in = prompt + 0.10 * cache_read + 1.25 * cache_write
            return round((tokens_in * p_in + completion * p_out) / 1_000_000, 8)
    raise KeyError(model)


def load_demo(state: SimState, today: datetime | None = None) -> None:
    """Insert the demo keys and ``DAYS`` days of usage ending today (UTC) into ``state``."""
    rng = random.Random(_SEED)
    now = today or utcnow()
    day0 = now.astimezone(UTC).date()
    created = demo_created_at(now)
    keys = demo_keys()
    # /models lists the models the demo usage names, so the create form offers the same ones.
    state.models = [model for model, *_ in MODELS]
    for i, k in enumerate(keys):
        state.add_key(
            key_alias=k["alias"],
            user_id=k["user_id"],
            secret=k["secret"],
            models=[],
            max_budget=[None, 50.0, 100.0][i % 3],
            metadata={"portal": "litellm-sim-demo", "owner_email": k["user_id"]},
            created_at=created + timedelta(hours=i),
        )
    for offset in range(DAYS - 1, -1, -1):
        day = day0 - timedelta(days=offset)
        weekend = day.weekday() >= 5
        for k in keys:
            if rng.random() < (0.55 if weekend else 0.15):
                continue  # idle day for this key
            for model, provider, _pi, _po in rng.sample(MODELS, rng.randint(1, 3)):
                ok = rng.randint(1, 40)
                failed = rng.choice((0, 0, 0, 0, 1, 2))
                prompt = ok * rng.randint(200, 2500)
                completion = ok * rng.randint(50, 700)
                cache_read = prompt // rng.choice((2, 4, 10, 1_000_000))
                cache_write = rng.choice((0, 0, 512, 1024, 2048))
                state.add_usage(
                    token=k["token"],
                    date=day,
                    model=model,
                    provider=provider,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    spend=price(model, prompt, completion, cache_read, cache_write),
                    cache_read_input_tokens=cache_read,
                    cache_creation_input_tokens=cache_write,
                    successful_requests=ok,
                    failed_requests=failed,
                    total_response_time_ms=ok * rng.randint(300, 4000),
                    timed_requests=ok,
                )
