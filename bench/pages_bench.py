"""Page server time over a large history.

    python bench/pages_bench.py [--events 10000000] [--people 2000] [--days 365] [--requests 20]
                                [--teams 20]

COPYs N synthetic events (people × days × 3 tools × 12 models) into a fresh, migrated
database, builds the daily rollups, then requests `/`, `/team` (sorted by cost),
`/users/<email>` and `/usage` through the Flask test client (default 30-day range), 20 times
each after one warm-up request, and prints p50/p95 per page and a last line with the worst
p95. With `--teams N`, N teams (every person in one, a tenth in a second, a re-org moving a
fifth of them halfway through the range) and the team-scoped pages (`?team=`, `?by=team`)
are measured too. Goal: every p95 < 150 ms. Uses DATABASE_URL's server, else
TEST_DATABASE_URL's, else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import scratch_database  # noqa: E402

TOOLS = {"claude_code": ("anthropic", ["claude-sonnet-4-5-20250929", "claude-opus-4-5",
                                       "claude-haiku-4-5", "claude-sonnet-4-20250514"]),
         "cursor": ("cursor", ["claude-4.5-sonnet", "gpt-5", "auto", "composer-1",
                               "gemini-2.5-pro"]),
         "codex": ("openai", ["gpt-5-codex", "o3", "gpt-4.1"])}
COLUMNS = ("account_id, provider, tool, event_key, occurred_at, day, actor, email, model, "
           "raw_model, kind, input_tokens, output_tokens, cache_write_tokens, "
           "cache_read_tokens, cost_usd, cost_source, extras")


def generate(conn, events: int, people: int, days: int, end: date, seed: int = 5) -> int:
    """Stream events into usage_events with COPY, chunk by chunk; returns rows written."""
    from abacus.usage.pricing import canonical_model

    rng = random.Random(seed)
    cur = conn.cursor()
    accounts = {}
    for tool, (provider, _) in TOOLS.items():
        cur.execute("INSERT INTO accounts (provider, name, settings, status) "
                    "VALUES (%s, %s, '{}', 'active') RETURNING id", (provider, f"bench-{tool}"))
        accounts[tool] = cur.fetchone()[0]
    emails = [f"person{i:04d}@example.com" for i in range(people)]
    # Each person leans on one or two tools and a few models, like real teams.
    habits = []
    for _ in emails:
        tools = rng.sample(list(TOOLS), k=rng.choice((1, 1, 2, 3)))
        habits.append([(t, rng.sample(TOOLS[t][1], k=min(2, len(TOOLS[t][1])))) for t in tools])
    canon = {m: canonical_model(m) for _, ms in TOOLS.values() for m in ms}
    per_day = max(1, events // days)
    written = 0
    start = end - timedelta(days=days - 1)
    for d in range(days):
        day = start + timedelta(days=d)
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        n = per_day if d < days - 1 else events - written
        buf = io.StringIO()
        for i in range(n):
            p = rng.randrange(people)
            tool, models = rng.choice(habits[p])
            model = rng.choice(models)
            at = base + timedelta(seconds=rng.randrange(86400), microseconds=i % 1000)
            inp, out = rng.randrange(50_000), rng.randrange(8_000)
            cw, cr = rng.randrange(20_000), rng.randrange(400_000)
            cost = f"{(inp * 3 + out * 15 + cw * 3.75 + cr * 0.3) / 1_000_000:.6f}"
            buf.write(f"{accounts[tool]}\t{TOOLS[tool][0]}\t{tool}\t{d}-{i}\t{at.isoformat()}\t"
                      f"{day.isoformat()}\t{emails[p]}\t{emails[p]}\t{canon[model]}\t{model}\t"
                      f"\t{inp}\t{out}\t{cw}\t{cr}\t{cost}\tprovider\t{{}}\n")
        buf.seek(0)
        cur.copy_expert(f"COPY usage_events ({COLUMNS}) FROM STDIN", buf)
        written += n
        if d % 30 == 0:
            print(f"  {written:,} events", flush=True)
    conn.commit()
    return written


def seed(db_url: str, args, end: date) -> None:
    """COPY the events, build the rollups, refresh statistics (inside an app context)."""
    from sqlalchemy import func, select

    from abacus.extensions import db
    from abacus.models import UsageDaily
    from abacus.usage.ingest import rebuild_rollups

    t0 = time.perf_counter()
    with psycopg2.connect(db_url) as conn:
        n = generate(conn, args.events, args.people, args.days, end)
    print(f"COPY {n:,} events in {time.perf_counter() - t0:.0f}s", flush=True)
    t0 = time.perf_counter()
    rebuild_rollups()
    db.session.commit()
    db.session.execute(select(func.count()).select_from(UsageDaily)).scalar()
    conn = psycopg2.connect(db_url)
    conn.autocommit = True  # VACUUM cannot run inside a transaction
    for table in ("usage_daily", "usage_person_daily", "usage_day_totals", "people",
                  "usage_day_people", "usage_person_blocks"):
        conn.cursor().execute(f"VACUUM ANALYZE {table}")
    conn.cursor().execute("ANALYZE usage_events")
    conn.close()
    rollup_rows = db.session.execute(
        select(func.count()).select_from(UsageDaily)).scalar()
    print(f"rollups: {rollup_rows:,} rows in {time.perf_counter() - t0:.0f}s",
          flush=True)


def seed_teams(args, end: date) -> int:
    """N teams under one root; returns the id of the first (about 1/N of the people)."""
    from datetime import timedelta as td

    from abacus.extensions import db
    from abacus.teams import tree

    start = end - td(days=args.days - 1)
    half = start + td(days=args.days // 2)
    root = tree.create_team("Org")
    teams = [tree.create_team(f"Team {i:02d}", parent=root, cost_centre=f"CC-{i:02d}")
             for i in range(args.teams)]
    for i in range(args.people):
        email = f"person{i:04d}@example.com"
        home = teams[i % len(teams)]
        if i % 5 == 0:  # a re-org halfway: moved to the next team
            tree.add_membership(home, email, start, half - td(days=1))
            tree.add_membership(teams[(i + 1) % len(teams)], email, half)
        else:
            tree.add_membership(home, email, start)
        if i % 10 == 3:
            tree.add_membership(teams[(i + 2) % len(teams)], email, start)
    db.session.commit()
    db.session.execute(db.text("ANALYZE team_memberships"))
    return teams[0].id


def measure(client, path: str, requests: int) -> list[float]:
    response = client.get(path)  # warm-up (and a check that the page works)
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--teams", type=int, default=0,
                        help="also build N teams and measure the team-scoped pages")
    parser.add_argument("--keep", action="store_true",
                        help="keep the seeded database and print its URL")
    parser.add_argument("--reuse", metavar="URL",
                        help="measure an already seeded database (from --keep)")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from abacus import create_app
    from abacus.extensions import db
    from abacus.models import UsageDaily

    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir, \
            (nullcontext(args.reuse) if args.reuse
             else scratch_database(Path(tmpdir), keep=args.keep)) as db_url:
        if args.keep:
            print(f"database kept: {db_url}", flush=True)
        app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url,
                          "SECRET_KEY": "bench" * 4, "ABACUS_DEV_LOGIN": "1",
                          "ALLOWED_DOMAINS": "example.com", "ABACUS_ADMINS": "a@example.com",
                          "ABACUS_INSTANCE_PATH": str(Path(tmpdir) / "instance"),
                          "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
        app.config["WTF_CSRF_ENABLED"] = False
        with app.app_context():
            upgrade()
            end = datetime.now(UTC).date()
            if not args.reuse:
                seed(db_url, args, end)
            top = db.session.execute(
                select(UsageDaily.email).where(UsageDaily.day >= end - timedelta(days=29))
                .group_by(UsageDaily.email).order_by(func.sum(UsageDaily.cost_usd).desc())
                .limit(1)).scalar()
            team = seed_teams(args, end) if args.teams else None
            db.session.remove()

        client = app.test_client()
        client.post("/auth/dev-login", data={"email": "a@example.com"})
        pages = [("/", "/"), ("/team", "/team?sort=cost&dir=desc"),
                 ("/users/<email>", f"/users/{top}"), ("/usage", "/usage")]
        if team:
            pages += [("/?team=", f"/?team={team}"),
                      ("/team?team=", f"/team?sort=cost&dir=desc&team={team}"),
                      ("/usage?team=", f"/usage?team={team}"), ("/team?by=team", "/team?by=team")]
        worst = ("", 0.0)
        for label, path in pages:
            if client.get(path).status_code == 404:
                print(f"{label:<16} (not built yet)")
                continue
            times = sorted(measure(client, path, args.requests))
            p50 = statistics.median(times)
            p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
            print(f"{label:<16} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms", flush=True)
            if p95 > worst[1]:
                worst = (label, p95)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    print(f"worst p95: {worst[1]:.1f} ms ({worst[0]}); goal < 150 ms")


if __name__ == "__main__":
    main()
