"""Fixtures for the usage tests: seed simulator rows."""

from __future__ import annotations

import random

import pytest
from usage_helpers import MODELS, day


@pytest.fixture
def seed_usage(sim):
    """``seed_usage(token, days=range(0, 10), per_day=3, seed=1)``: random rows for one token."""

    def seed(token: str, days=range(0, 10), per_day: int = 3, seed: int = 1) -> None:
        rng = random.Random(f"{token}-{seed}")
        for offset in days:
            for _ in range(per_day):
                model, provider = rng.choice(MODELS)
                sim.add_usage(
                    token=token,
                    date=day(offset),
                    model=model,
                    provider=provider,
                    prompt_tokens=rng.randint(1, 5000),
                    completion_tokens=rng.randint(0, 2000),
                    spend=round(rng.uniform(0, 0.5), 6),
                    cache_read_input_tokens=rng.randint(0, 300),
                    cache_creation_input_tokens=rng.randint(0, 50),
                    successful_requests=rng.randint(0, 4),
                    failed_requests=rng.randint(0, 2),
                )

    return seed
