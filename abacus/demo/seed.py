"""Synthetic but realistic usage for a first look: `flask abacus demo`.

Deterministic for a seed (re-running changes nothing), written through `ingest` like every
other source, into one account named `demo`. Days are the org time zone's, and nothing is
dated after `today` (the current time): demo data never lies in the future.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import Account
from ..providers.base import UsageRecord
from ..providers.cursor_events import charged_or_not, cursor_event_key
from ..usage.ingest import IngestResult, ingest
from ..usage.pricing import PriceBook, canonical_model

FIRST = ["ada", "ben", "chloe", "dev", "emil", "farah", "gus", "hana", "ivan", "jun", "kofi",
         "lena", "mateo", "nora", "omar", "priya", "quinn", "rosa", "sam", "tariq", "uma",
         "vik", "wen", "xavi", "yara", "zoe", "arlo", "bea", "cyrus", "dina"]
LAST = ["lovelace", "okafor", "martin", "patel", "berg", "haddad", "silva", "kim", "petrov",
        "tanaka", "mensah", "fischer", "garcia", "walsh", "ali", "nair", "reyes", "costa"]
CLAUDE_MODELS = [("claude-sonnet-4-5-20250929", 0.55), ("claude-opus-4-5-20251101", 0.2),
                 ("claude-haiku-4-5-20251001", 0.15), ("claude-sonnet-4-20250514", 0.1)]
# composer-2 has no confirmed price: a few of its events show how unpriced usage is flagged.
CURSOR_MODELS = [("claude-4.5-sonnet", 0.38), ("auto", 0.27), ("gpt-5", 0.15),
                 ("claude-4.5-sonnet-thinking", 0.11), ("gpt-5-codex", 0.06),
                 ("composer-2", 0.03)]
CURSOR_KINDS = [("Included", 0.6), ("Usage-based", 0.35), ("Errored, No Charge", 0.05)]


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def demo_records(people: int, days: int, seed: int, today: datetime,
                 tz: ZoneInfo | None = None) -> Iterator[UsageRecord]:
    """The usage of the `days` org days up to `today`'s, none after `today` itself."""
    return (r for r in _demo_records(people, days, seed, today, tz or ZoneInfo("UTC"))
            if r.occurred_at <= today)


def _demo_records(people: int, days: int, seed: int, today: datetime,
                  tz: ZoneInfo) -> Iterator[UsageRecord]:
    rng = random.Random(seed)
    prices = PriceBook.shipped()
    names = [f"{FIRST[i % len(FIRST)]}.{LAST[(i * 7) % len(LAST)]}" for i in range(people)]
    profiles = [{"email": f"{n}@example.com", "claude": rng.random() < 0.7,
                 "cursor": rng.random() < 0.75, "intensity": rng.lognormvariate(0, 0.6),
                 "since": rng.randint(0, days // 3)} for n in names]
    start = today.astimezone(tz).date() - timedelta(days=days - 1)
    for d in range(days):
        day = start + timedelta(days=d)
        rng = random.Random(f"{seed}:{day.isoformat()}")  # a day's data never depends on today
        weekday = day.weekday() < 5
        for p in profiles:
            if (day - start).days < p["since"] or rng.random() > (0.85 if weekday else 0.15):
                continue
            if p["claude"]:
                yield from _claude_day(rng, prices, p, day, tz)
            if p["cursor"]:
                yield from _cursor_day(rng, prices, p, day, tz)
        # A CI key nobody has mapped yet: kept under its key name and shown as unmapped.
        if weekday:
            yield _claude_record(rng, prices, "claude_code_key_ci-bot", None, day,
                                 "claude-haiku-4-5-20251001", 0.6, tz)


def _claude_day(rng, prices, p, day, tz) -> Iterator[UsageRecord]:
    for model in {_pick(rng, CLAUDE_MODELS) for _ in range(rng.randint(1, 2))}:
        yield _claude_record(rng, prices, p["email"], p["email"], day, model, p["intensity"],
                             tz)


def _claude_record(rng, prices, actor, email, day, model, intensity, tz) -> UsageRecord:
    scale = intensity * rng.uniform(0.3, 1.6)
    tokens = {"input_tokens": int(40_000 * scale), "output_tokens": int(90_000 * scale),
              "cache_write_tokens": int(400_000 * scale),
              "cache_read_tokens": int(6_000_000 * scale)}
    cost = prices.estimate(canonical_model(model), tokens["input_tokens"],
                           tokens["output_tokens"], tokens["cache_write_tokens"],
                           tokens["cache_read_tokens"])
    at = datetime.combine(day, time(0), tz).astimezone(UTC)  # the org day's daily bucket
    return UsageRecord(event_key=f"{day.isoformat()}|{actor}|{model}", occurred_at=at,
                       tool="claude_code", actor=actor, email=email, raw_model=model,
                       kind="subscription", cost_usd=cost,
                       extras={"sessions": rng.randint(1, 8),
                               "lines_added": int(400 * scale)}, **tokens)


def _cursor_day(rng, prices, p, day, tz) -> Iterator[UsageRecord]:
    for _ in range(max(1, int(rng.expovariate(1 / (4 * p["intensity"]))))):
        at = datetime.combine(day, time(rng.randint(7, 20), rng.randint(0, 59),
                                        rng.randint(0, 59)), tz).astimezone(UTC)
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
        decided = charged_or_not(kind, cost, {"max_mode": rng.random() < 0.1})
        yield UsageRecord(event_key=cursor_event_key(ms, p["email"], model), occurred_at=at,
                          tool="cursor", actor=p["email"], email=p["email"], raw_model=model,
                          kind=kind, cost_usd=decided.cost_usd, not_charged=decided.not_charged,
                          extras=decided.extras, **tokens)


REPOS = ["acme/api", "acme/web", "acme/infra", "acme/docs"]
SUBJECTS = ["Fix pagination in the team table", "Add retries to the sync client",
            "Refactor the pricing lookup", "Bump dependencies", "Document the backfill flags",
            "Speed up the daily rollup", "Handle empty CSV uploads", "Rename sync state columns",
            "Fix the timezone of daily buckets", "Add a health check endpoint"]
TRAILERS = {"claude_code": ["Co-Authored-By: Claude <noreply@anthropic.com>",
                            "Co-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>",
                            "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>"],
            "cursor": ["Co-authored-by: Cursor <cursoragent@cursor.com>"],
            "codex": ["Co-authored-by: Codex <noreply@openai.com>"]}


def demo_commits(people: int, days: int, seed: int, today: datetime,
                 tz: ZoneInfo | None = None) -> Iterator[tuple[str, Any]]:
    """(repository, CommitIn) pairs: each person's default-branch commits, some co-authored
    by the tools they use, plus GitHub's Copilot coding agent now and then; none after
    `today`."""
    return ((repo, c) for repo, c in _demo_commits(people, days, seed, today,
                                                   tz or ZoneInfo("UTC"))
            if c.committed_at <= today)


def _demo_commits(people: int, days: int, seed: int, today: datetime,
                  tz: ZoneInfo) -> Iterator[tuple[str, Any]]:
    import hashlib

    from ..github.store import CommitIn

    rng = random.Random(f"{seed}:commits")
    names = [f"{FIRST[i % len(FIRST)]}.{LAST[(i * 7) % len(LAST)]}" for i in range(people)]
    odds = {"claude_code": 0.7, "cursor": 0.6, "codex": 0.2}
    tools = [[t for t, p in odds.items() if rng.random() < p] for _ in names]
    start = today.astimezone(tz).date() - timedelta(days=days - 1)
    for d in range(days):
        day = start + timedelta(days=d)
        rng = random.Random(f"{seed}:commits:{day.isoformat()}")
        if day.weekday() >= 5:
            continue
        for i, name in enumerate(names):
            for n in range(rng.choice((0, 0, 1, 1, 2, 3))):
                subject = rng.choice(SUBJECTS)
                message = subject
                if tools[i] and rng.random() < 0.55:
                    message += "\n\n" + rng.choice(TRAILERS[rng.choice(tools[i])])
                at = datetime.combine(day, time(rng.randint(8, 19), rng.randint(0, 59)),
                                      tz).astimezone(UTC)
                sha = hashlib.sha1(f"{seed}|{day}|{name}|{n}".encode()).hexdigest()
                yield rng.choice(REPOS), CommitIn(
                    sha=sha, message=message, committed_at=at, author_name=name.title(),
                    author_email=f"{name}@example.com", author_login=name.replace(".", "-"),
                    committer_name=name.title(), committer_email=f"{name}@example.com",
                    additions=int(rng.lognormvariate(3.5, 1.1)),
                    deletions=int(rng.lognormvariate(2.5, 1.1)))
        for n in range(rng.choice((0, 1, 1, 2))):  # the Copilot coding agent lands a change
            sha = hashlib.sha1(f"{seed}|{day}|copilot|{n}".encode()).hexdigest()
            bot = "Copilot"
            yield rng.choice(REPOS), CommitIn(
                sha=sha, message=f"{rng.choice(SUBJECTS)} (#{rng.randint(100, 999)})",
                committed_at=datetime.combine(day, time(rng.randint(8, 19)), tz).astimezone(UTC),
                author_name=bot, author_email="198982749+Copilot@users.noreply.github.com",
                author_login="Copilot", additions=rng.randint(5, 400),
                deletions=rng.randint(0, 120))


def seed_demo_commits(people: int = 25, days: int = 90, seed: int = 7,
                      today: datetime | None = None) -> int:
    """Store the demo commits through `commits.store`; returns how many were new."""
    from ..github import store as commits

    by_repo: dict[str, list] = {}
    for repo, commit in demo_commits(people, days, seed, today or datetime.now(UTC), _org_tz()):
        by_repo.setdefault(repo, []).append(commit)
    new = 0
    for name, batch in sorted(by_repo.items()):
        repo = commits.repository(name, default_branch="main",
                                  html_url=f"https://github.com/{name}")
        new += commits.store(repo, batch, "api").inserted
    db.session.commit()
    return new


def seed_demo(people: int = 25, days: int = 90, seed: int = 7,
              today: datetime | None = None) -> IngestResult:
    account = db.session.execute(select(Account).where(Account.name == "demo")).scalar()
    if account is None:
        account = Account(provider="demo", name="demo", settings={"source": "demo"})
        db.session.add(account)
        db.session.flush()
    today = today or datetime.now(UTC)
    result = ingest(account, demo_records(people, days, seed, today, _org_tz()))
    db.session.commit()
    return result


def _org_tz() -> ZoneInfo:
    return current_app.config["ABACUS"].tz
