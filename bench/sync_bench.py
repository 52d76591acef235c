"""Sync throughput at org scale against the provider fakes, pacing off: is our side ever the
bottleneck?

    python bench/sync_bench.py [--provider cursor,anthropic] [--people 2000] [--days 30]
                               [--events-per-day 2]

For each provider, serves `--people` people over `--days` days from its fake (tests/fakes, a
real HTTP server on 127.0.0.1): Cursor Admin API events (`--events-per-day` per person-day)
and Anthropic Claude Code analytics (one record per person-day, two models each). Syncs them
through the real path (`sync.sync_account`: provider, HTTP session, ingest, commit per day)
into a fresh migrated database, then syncs again (everything unchanged), and prints where the
time went and the time per account-day (one day of the whole org for one account):

    cursor first sync: 120000 events in 41.0s | fake 9.1s, ours: HTTP+parse 18.2s,
    ingest 13.7s | per account-day: ours 1.06s vs >= 12.0s the documented limit allows

"Fake" is time spent inside the fake producing pages (the stand-in for the provider); the rest
is ours. The documented limits (shared/providers/*.md): Cursor Admin API 20 requests/min per
team with up to 1000 events per page; Anthropic publishes no number for Claude Code
analytics and supports "polling once per minute for sustained use" (a page of up to
1000 records per request). Uses DATABASE_URL's server, else TEST_DATABASE_URL's, else the
embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import scratch_database  # noqa: E402

MODELS = ["claude-4.5-sonnet", "claude-4.5-sonnet-thinking", "default", "gpt-5", "gpt-5-codex",
          "claude-4.5-opus-high-thinking", "composer-1", "claude-4-sonnet"]
CLAUDE_MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-5", "claude-haiku-4-5"]
KINDS = ["Included in Business", "Usage-based", "Errored, Not Charged"]
# Seconds per request the documented limits impose at the least, and records per request.
LIMITS = {"cursor": (60 / 20, 1000, "20 requests/min, 1000 events per page"),
          "anthropic": (60 / 1, 1000, "polling once per minute sustained, 1000 records/page")}


def seed_cursor(fake, people: int, days: int, per_day: int, start: datetime,
                rng: random.Random) -> int:
    users = [f"dev{i:04d}@example.com" for i in range(people)]
    base = int(start.timestamp() * 1000)
    n = 0
    for d in range(days):
        for user in users:
            for _ in range(per_day):
                fake.add_event(base + d * 86_400_000 + rng.randrange(86_400_000), user,
                               rng.choice(MODELS), kind=rng.choice(KINDS),
                               input=rng.randint(0, 50000), output=rng.randint(0, 20000),
                               cache_write=rng.randint(0, 30000),
                               cache_read=rng.randint(0, 900000),
                               total_cents=Decimal(rng.randint(0, 50000)) / 1000,
                               charged_cents=Decimal(rng.randint(0, 60000)) / 1000,
                               token_based=rng.random() > 0.05)
                n += 1
    return n


def seed_anthropic(fake, people: int, days: int, start: datetime, rng: random.Random) -> int:
    n = 0
    for d in range(days):
        day = (start + timedelta(days=d)).date()
        for i in range(people):
            models = [(m, rng.randint(0, 50000), rng.randint(0, 20000),
                       rng.randint(0, 900000), rng.randint(0, 30000),
                       Decimal(rng.randint(0, 50000)) / 100)
                      for m in rng.sample(CLAUDE_MODELS, 2)]
            fake.add_claude_code(day, actor_email=f"dev{i:04d}@example.com", models=models)
            n += 1
    return n


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, func):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return timed


def fake_for(provider: str):
    if provider == "cursor":
        from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin

        return FakeCursorAdmin(), {"api_key": DEFAULT_KEY}
    from tests.fakes.anthropic import FakeAnthropic

    key = "sk-ant-admin01-bench"
    return FakeAnthropic(admin_keys=(key,)), {"admin_key": key}


def bench(provider: str, args, start: datetime) -> list[str]:
    from flask_migrate import upgrade

    from abacus import create_app
    from abacus.extensions import db
    from abacus.sync import accounts
    from abacus.sync import engine as sync

    first_day, last_day = start.date(), (start + timedelta(days=args.days - 1)).date()
    fake, credentials = fake_for(provider)
    lines = []
    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir, fake:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        rng = random.Random(1)
        if provider == "cursor":
            records = seed_cursor(fake, args.people, args.days, args.events_per_day, start, rng)
        else:
            records = seed_anthropic(fake, args.people, args.days, start, rng)
        print(f"{provider}: fake serves {records} records ({args.people} people x "
              f"{args.days} days), seeded in {time.perf_counter() - t0:.1f}s", flush=True)
        server_timer = Timer()
        fake._dispatch = server_timer.wrap(fake._dispatch)

        with scratch_database(tmp) as db_url:
            app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url,
                              "SECRET_KEY": "bench" * 4, "CURSOR_MIN_REQUEST_INTERVAL": "0",
                              "ABACUS_INSTANCE_PATH": str(tmp / "instance"),
                              "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
            with app.app_context():
                upgrade()
                account = accounts.add_account(provider, "bench", credentials,
                                               {"base_url": fake.url})
                db.session.commit()
                ingest_timer = Timer()
                real_ingest = sync.ingest
                sync.ingest = ingest_timer.wrap(real_ingest)
                try:
                    for label in ("first sync", "re-sync"):
                        server_timer.seconds = ingest_timer.seconds = 0.0
                        requests_before = len(fake.requests)
                        started = time.perf_counter()
                        outcome = sync.sync_account(account.id, first=first_day, last=last_day)
                        total = time.perf_counter() - started
                        assert outcome.status == "success", outcome.message
                        requests = len(fake.requests) - requests_before
                        ours = total - server_timer.seconds
                        per_request, per_page, text = LIMITS[provider]
                        floor = per_request * max(requests, -(-outcome.fetched // per_page))
                        lines.append(
                            f"{provider} {label}: {outcome.fetched} records in {total:.1f}s "
                            f"({outcome.inserted} new, {outcome.unchanged} unchanged; "
                            f"{requests} requests) | fake {server_timer.seconds:.1f}s, ours: "
                            f"HTTP+parse {ours - ingest_timer.seconds:.1f}s, ingest "
                            f"{ingest_timer.seconds:.1f}s | per account-day: ours "
                            f"{ours / args.days:.2f}s vs >= {floor / args.days:.1f}s the "
                            f"documented limit allows ({text}) -> "
                            f"{'ours is not the bottleneck' if ours < floor else 'OURS IS'}")
                        print(lines[-1], flush=True)
                finally:
                    sync.ingest = real_ingest
                db.session.remove()
                db.engine.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="cursor,anthropic")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-day", type=int, default=2,
                        help="Cursor events per person-day")
    args = parser.parse_args()
    import os

    print(f"load average at start: {os.getloadavg()}", flush=True)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    lines = []
    for provider in args.provider.split(","):
        lines += bench(provider, args, start)
    print(f"load average at end: {os.getloadavg()}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
