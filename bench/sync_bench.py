"""Cursor team sync throughput against the fake Admin API, pacing off.

    python bench/sync_bench.py [--events N] [--days D] [--page-size P]

Serves N events spread over D days from the fake Cursor Admin API (tests/fakes, a real HTTP
server on 127.0.0.1), syncs them through the real path (`sync.sync_account`: provider, HTTP
session, ingest, commit per day) into a fresh migrated database, then syncs again (everything
unchanged). Prints where the time went:

    first sync: 100000 events in 9.1s (11000 events/s) | fake server 3.0s, our HTTP+parse+
    normalize 3.5s, ingest 2.6s | re-sync ...

"Fake server" is time spent inside the fake producing pages (the stand-in for Cursor); the
rest is ours. The goal is that our side is never the bottleneck: with the documented 20
requests/min and 1000 events per page, Cursor can hand out at most ~333 events/s.
Uses DATABASE_URL's server, else TEST_DATABASE_URL's, else the embedded PostgreSQL.
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
KINDS = ["Included in Business", "Usage-based", "Errored, Not Charged"]
API_DOCUMENTED_EVENTS_PER_S = 20 * 1000 / 60  # 20 requests/min x 1000 events per page


def seed(fake, events: int, days: int, start: datetime, rng: random.Random) -> None:
    users = [f"dev{i:03d}@example.com" for i in range(50)]
    span_ms = days * 86_400_000
    base = int(start.timestamp() * 1000)
    for _ in range(events):
        token_based = rng.random() > 0.05
        fake.add_event(base + rng.randrange(span_ms), rng.choice(users), rng.choice(MODELS),
                       kind=rng.choice(KINDS), input=rng.randint(0, 50000),
                       output=rng.randint(0, 20000), cache_write=rng.randint(0, 30000),
                       cache_read=rng.randint(0, 900000),
                       total_cents=Decimal(rng.randint(0, 50000)) / 1000,
                       charged_cents=Decimal(rng.randint(0, 60000)) / 1000,
                       token_based=token_based)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=1000,
                        help="events per page the fake serves (Cursor: up to 1000)")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from abacus import create_app
    from abacus.extensions import db
    from abacus.sync import accounts
    from abacus.sync import engine as sync
    from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin

    start = datetime(2026, 6, 1, tzinfo=UTC)
    first_day, last_day = start.date(), (start + timedelta(days=args.days - 1)).date()
    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir, \
            FakeCursorAdmin() as fake:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        seed(fake, args.events, args.days, start, random.Random(1))
        fake.max_page_size = args.page_size
        print(f"fake Cursor: {args.events} events over {args.days} days "
              f"(seeded in {time.perf_counter() - t0:.1f}s)", flush=True)
        server_timer = Timer()
        fake._dispatch = server_timer.wrap(fake._dispatch)

        with scratch_database(tmp) as db_url:
            app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url,
                              "SECRET_KEY": "bench" * 4, "CURSOR_MIN_REQUEST_INTERVAL": "0",
                              "ABACUS_INSTANCE_PATH": str(tmp / "instance"),
                              "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
            with app.app_context():
                upgrade()
                account = accounts.add_account("cursor", "bench", {"api_key": DEFAULT_KEY},
                                               {"base_url": fake.url})
                db.session.commit()
                ingest_timer = Timer()
                sync.ingest = ingest_timer.wrap(sync.ingest)
                lines = []
                for label in ("first sync", "re-sync"):
                    server_timer.seconds = ingest_timer.seconds = 0.0
                    requests_before = len(fake.requests)
                    started = time.perf_counter()
                    outcome = sync.sync_account(account.id, first=first_day, last=last_day)
                    total = time.perf_counter() - started
                    assert outcome.status == "success", outcome.message
                    assert outcome.fetched == args.events, outcome
                    ours = total - server_timer.seconds - ingest_timer.seconds
                    lines.append(
                        f"{label}: {outcome.fetched} events in {total:.1f}s "
                        f"({outcome.fetched / total:.0f} events/s; {outcome.inserted} new, "
                        f"{outcome.unchanged} unchanged; "
                        f"{len(fake.requests) - requests_before} requests) | fake server "
                        f"{server_timer.seconds:.1f}s, our HTTP+parse+normalize {ours:.1f}s, "
                        f"ingest {ingest_timer.seconds:.1f}s")
                    print(lines[-1], flush=True)
                db.session.remove()
                db.engine.dispose()
    print(f"Cursor's documented limit allows ~{API_DOCUMENTED_EVENTS_PER_S:.0f} events/s "
          "(20 requests/min x 1000 per page)")


if __name__ == "__main__":
    main()
