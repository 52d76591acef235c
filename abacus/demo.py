"""Synthetic but realistic usage for a first look: `flask abacus demo`.

Deterministic for a seed (re-running changes nothing), written through `ingest` like every
other source, into one account named `demo`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from .extensions import db
from .ingest import IngestResult, ingest
from .models import Account
from .pricing import PriceBook, canonical_model
from .providers.base import UsageRecord
from .providers.cursor_events import cursor_event_key

FIRST = ["ada", "ben", "chloe", "dev", "emil", "farah", "gus", "hana", "ivan", "jun", "kofi",
         "lena", "mateo", "nora", "omar", "priya", "quinn", "rosa", "sam", "tariq", "uma",
         "vik", "wen", "xavi", "yara", "zoe", "arlo", "bea", "cyrus", "dina"]
LAST = ["lovelace", "okafor", "martin", "patel", "berg", "haddad", "silva", "kim", "petrov",
        "tanaka", "mensah", "fischer", "garcia", "walsh", "ali", "nair", "reyes", "costa"]
CLAUDE_MODELS = [("claude-sonnet-4-5-20250929", 0.55), ("claude-opus-4-5-20251101", 0.2),
                 ("claude-haiku-4-5-20251001", 0.15), ("claude-sonnet-4-20250514", 0.1)]
# composer-1 has no public price: a few of its events show how unpriced usage is flagged.
CURSOR_MODELS = [("claude-4.5-sonnet", 0.38), ("auto", 0.27), ("gpt-5", 0.15),
                 ("claude-4.5-sonnet-thinking", 0.11), ("gpt-5-codex", 0.06),
                 ("composer-1", 0.03)]
CURSOR_KINDS = [("Included", 0.6), ("Usage-based", 0.35), ("Errored, No Charge", 0.05)]


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def demo_records(people: int, days: int, seed: int, today: datetime) -> Iterator[UsageRecord]:
    rng = random.Random(seed)
    prices = PriceBook.shipped()
    names = [f"{FIRST[i % len(FIRST)]}.{LAST[(i * 7) % len(LAST)]}" for i in range(people)]
    profiles = [{"email": f"{n}@example.com", "claude": rng.random() < 0.7,
                 "cursor": rng.random() < 0.75, "intensity": rng.lognormvariate(0, 0.6),
                 "since": rng.randint(0, days // 3)} for n in names]
    start = (today - timedelta(days=days - 1)).date()
    for d in range(days):
        day = start + timedelta(days=d)
        rng = random.Random(f"{seed}:{day.isoformat()}")  # a day's data never depends on today
        weekday = day.weekday() < 5
        for p in profiles:
            if (day - start).days < p["since"] or rng.random() > (0.85 if weekday else 0.15):
                continue
            if p["claude"]:
                yield from _claude_day(rng, prices, p, day)
            if p["cursor"]:
                yield from _cursor_day(rng, prices, p, day)
        # A CI key nobody has mapped yet: kept under its key name and shown as unmapped.
        if weekday:
            yield _claude_record(rng, prices, "claude_code_key_ci-bot", None, day,
                                 "claude-haiku-4-5-20251001", 0.6)


def _claude_day(rng, prices, p, day) -> Iterator[UsageRecord]:
    for model in {_pick(rng, CLAUDE_MODELS) for _ in range(rng.randint(1, 2))}:
        yield _claude_record(rng, prices, p["email"], p["email"], day, model, p["intensity"])


def _claude_record(rng, prices, actor, email, day, model, intensity) -> UsageRecord:
    scale = intensity * rng.uniform(0.3, 1.6)
    tokens = {"input_tokens": int(40_000 * scale), "output_tokens": int(90_000 * scale),
              "cache_write_tokens": int(400_000 * scale),
              "cache_read_tokens": int(6_000_000 * scale)}
    cost = prices.estimate(canonical_model(model), tokens["input_tokens"],
                           tokens["output_tokens"], tokens["cache_write_tokens"],
                           tokens["cache_read_tokens"])
    at = datetime.combine(day, time(0), UTC)
    return UsageRecord(event_key=f"{day.isoformat()}|{actor}|{model}", occurred_at=at,
                       tool="claude_code", actor=actor, email=email, raw_model=model,
                       kind="subscription", cost_usd=cost,
                       extras={"sessions": rng.randint(1, 8),
                               "lines_added": int(400 * scale)}, **tokens)


def _cursor_day(rng, prices, p, day) -> Iterator[UsageRecord]:
    for _ in range(max(1, int(rng.expovariate(1 / (4 * p["intensity"]))))):
        at = datetime.combine(day, time(rng.randint(7, 20), rng.randint(0, 59),
                                        rng.randint(0, 59)), UTC)
        at += timedelta(milliseconds=rng.randint(0, 999))
        model = _pick(rng, CURSOR_MODELS)
        kind = _pick(rng, CURSOR_KINDS)
        scale = p["intensity"] * rng.uniform(0.2, 2.0)
        tokens = {"input_tokens": int(9_000 * scale), "output_tokens": int(3_000 * scale),
                  "cache_write_tokens": int(20_000 * scale),
                  "cache_read_tokens": int(250_000 * scale)}
        if kind == "Included":
            cost = None  # Cursor reports no money for plan usage: ingest estimates it
        elif kind.startswith("Errored"):
            cost = Decimal(0)
        else:
            cost = prices.estimate(canonical_model(model), tokens["input_tokens"],
                                   tokens["output_tokens"], tokens["cache_write_tokens"],
                                   tokens["cache_read_tokens"]) or Decimal("0.04")
        ms = int(at.timestamp() * 1000)
        yield UsageRecord(event_key=cursor_event_key(ms, p["email"], model), occurred_at=at,
                          tool="cursor", actor=p["email"], email=p["email"], raw_model=model,
                          kind=kind, cost_usd=cost, extras={"max_mode": rng.random() < 0.1},
                          **tokens)


def seed_demo(people: int = 25, days: int = 90, seed: int = 7,
              today: datetime | None = None) -> IngestResult:
    account = db.session.execute(select(Account).where(Account.name == "demo")).scalar()
    if account is None:
        account = Account(provider="demo", name="demo", settings={"source": "demo"})
        db.session.add(account)
        db.session.flush()
    today = today or datetime.now(UTC)
    result = ingest(account, demo_records(people, days, seed, today))
    db.session.commit()
    return result
