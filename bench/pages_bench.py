"""Server time of every page and CSV export at every range, over a large history.

    python bench/pages_bench.py [--events 10000000] [--people 2000] [--days 365]
                                [--requests 20] [--keep] [--only LABEL] [--teams 20]

COPYs N synthetic events (people x days x 3 tools x 12 models, fixed seed) into a migrated
database, builds the rollups (the real `ingest.rebuild_rollups`), then requests every page
(`/`, `/team?sort=cost`, `/usage`, `/commits`, a person's page and Raw usage tab, `/status`,
`/seats`, `/budgets`, `/incidents`; once each, the pages without a range: Admin's,
`/chargeback`) and CSV export (`/team.csv`, `/usage.csv`, the person's
`raw.csv`, `/commits/export.csv`, `/seats/idle.csv`) at 7, 30, 90 and 365 days and a custom
2-year range through the Flask test client as an admin, `--requests` times each after one
warm-up, and prints p50/p95 per page x range, the load average, and last the worst p95
(goals: pages < 150 ms, CSV exports < 300 ms). With `--teams N`, N teams with a re-org are
built and the team-scoped pages are measured too (`?team=` for the first team, ~100 people,
and for the root team, everyone; `?by=team`; chargeback).

`--keep` keeps the seeded database, named after the sizes (`abacus_bench_pages_<events>_
<people>_<days>`), and reuses it on the next run with the same sizes (a half-seeded one is
seeded again); migrations added since are applied on reuse. Seeding 10M events takes several
minutes: start it early, e.g. `nice -n 10 python bench/pages_bench.py --keep --seed-only &`.
Uses DATABASE_URL's server, else TEST_DATABASE_URL's, else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import dsn, scratch_database, server_url  # noqa: E402

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


@contextmanager
def kept_database(tmp: Path, args) -> Iterator[tuple[str, bool]]:
    """The named bench database for these sizes; yields (url, already seeded).

    A database is only reused when its seeding finished (the `bench_seeded` marker table is
    written last), so an interrupted run starts over instead of measuring half a history."""
    server = server_url(tmp)
    name = f"abacus_bench_pages_{args.events}_{args.people}_{args.days}"
    admin = psycopg2.connect(dsn(server, make_url(server).database or "postgres"))
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    seeded = False
    if cur.fetchone():
        with psycopg2.connect(dsn(server, name)) as conn, conn.cursor() as c:
            c.execute("SELECT to_regclass('bench_seeded') IS NOT NULL")
            seeded = c.fetchone()[0]
        if not seeded:
            cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    if not seeded:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    yield dsn(server, name), seeded


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
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bench_seeded (end_day date NOT NULL)")
        cur.execute("INSERT INTO bench_seeded VALUES (%s)", (end,))


@contextmanager
def _fresh(tmp: Path) -> Iterator[tuple[str, bool]]:
    with scratch_database(tmp) as url:
        yield url, False


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


def percentile(times: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted `times`."""
    return times[max(0, min(len(times) - 1, math.ceil(q * len(times)) - 1))]


def seed_teams(args, end: date) -> tuple[int, int]:
    """N teams under one root (every person in one, a tenth in a second, a fifth moved to the
    next team halfway through: a re-org); returns the ids of the first team and of the root
    (everyone). Reuses them when a kept database already has them."""
    from sqlalchemy import select, text

    from abacus.extensions import db
    from abacus.models import Team
    from abacus.teams import tree

    existing = db.session.execute(select(Team.id).where(Team.name == "Team 00")).scalar()
    if existing:
        return existing, db.session.execute(select(Team.id).where(Team.name == "Org")).scalar()
    start = end - timedelta(days=args.days - 1)
    half = start + timedelta(days=args.days // 2)
    root = tree.create_team("Org")
    teams = [tree.create_team(f"Team {i:02d}", parent=root, cost_centre=f"CC-{i:02d}")
             for i in range(args.teams)]
    for i in range(args.people):
        email = f"person{i:04d}@example.com"
        home = teams[i % len(teams)]
        if i % 5 == 0:
            tree.add_membership(home, email, start, half - timedelta(days=1))
            tree.add_membership(teams[(i + 1) % len(teams)], email, half)
        else:
            tree.add_membership(home, email, start)
        if i % 10 == 3:
            tree.add_membership(teams[(i + 2) % len(teams)], email, start)
    db.session.commit()
    db.session.execute(text("ANALYZE team_memberships"))
    return teams[0].id, root.id


def pages(person: str, team: int | None = None, root: int | None = None
          ) -> list[tuple[str, str, bool]]:
    """(label, path, is a CSV export): every page that takes a range (and, with teams, the
    pages scoped to one team of ~100 people and to the root team of everyone)."""
    scoped = [] if team is None else [
        ("/?team=", f"/?team={team}", False),
        ("/team?team=", f"/team?sort=cost&dir=desc&team={team}", False),
        ("/usage?team=", f"/usage?team={team}", False),
        ("/?team=root", f"/?team={root}", False),
        ("/team?team=root", f"/team?sort=cost&dir=desc&team={root}", False),
        ("/usage?team=root", f"/usage?team={root}", False),
        ("/seats?team=root", f"/seats?team={root}", False),
        ("/commits?team=root", f"/commits?team={root}", False),
        ("/team.csv?team=root", f"/team.csv?team={root}", True),
        ("/usage.csv?team=root", f"/usage.csv?team={root}", True),
        ("/team?by=team", "/team?by=team", False),
        ("/chargeback.csv", "/chargeback.csv", True)]
    return scoped + [("/", "/", False), ("/team?sort=cost", "/team?sort=cost&dir=desc", False),
            ("/usage", "/usage", False), ("/commits", "/commits", False),
            ("person", f"/users/{person}", False),
            ("person raw tab", f"/users/{person}?tab=raw", False),
            ("/status", "/status", False), ("/seats", "/seats", False),
            ("/budgets", "/budgets", False), ("/incidents", "/incidents", False),
            ("/team.csv", "/team.csv", True), ("/usage.csv", "/usage.csv", True),
            ("person raw.csv", f"/users/{person}/raw.csv", True),
            ("/commits/export.csv", "/commits/export.csv", True),
            ("/seats/idle.csv", "/seats/idle.csv", True)]


# Pages that take no range (Admin, chargeback's month): measured once each, as "-".
UNRANGED = [("/admin", "/admin"), ("/admin/people", "/admin/people"),
            ("/admin/identities", "/admin/identities"), ("/admin/pricing", "/admin/pricing"),
            ("/admin/accounts", "/admin/accounts"), ("/admin/teams", "/admin/teams"),
            ("/admin/access-log", "/admin/access-log"), ("/chargeback", "/chargeback")]


def ranges(end: date) -> list[tuple[str, str]]:
    two_years = f"start={(end - timedelta(days=729)).isoformat()}&end={end.isoformat()}"
    return [("7d", "days=7"), ("30d", "days=30"), ("90d", "days=90"), ("1y", "days=365"),
            ("2y custom", two_years)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--teams", type=int, default=0,
                        help="also build N teams and measure the team-scoped pages")
    parser.add_argument("--keep", action="store_true",
                        help="keep the seeded database (named after the sizes) and reuse it "
                             "on the next run with the same sizes")
    parser.add_argument("--reuse", metavar="URL",
                        help="measure an already seeded database at URL")
    parser.add_argument("--seed-only", action="store_true", help="seed, then stop")
    parser.add_argument("--only", help="measure only pages whose label contains this")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from abacus import create_app, settle_heap
    from abacus.extensions import db
    from abacus.models import UsagePersonDaily

    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir, \
            (nullcontext((args.reuse, True)) if args.reuse
             else kept_database(Path(tmpdir), args) if args.keep
             else _fresh(Path(tmpdir))) as (db_url, seeded):
        if args.keep:
            print(f"database kept: {db_url}"
                  f" ({'reused' if seeded else 'seeding'})", flush=True)
        app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url,
                          "SECRET_KEY": "bench" * 4, "ABACUS_DEV_LOGIN": "1",
                          "ALLOWED_DOMAINS": "example.com", "ABACUS_ADMINS": "a@example.com",
                          "ABACUS_INSTANCE_PATH": str(Path(tmpdir) / "instance"),
                          "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
        app.config["WTF_CSRF_ENABLED"] = False
        with app.app_context():
            upgrade()
            if not seeded:
                seed(db_url, args, datetime.now(UTC).date())
            if args.seed_only:
                return
            end = db.session.execute(text("SELECT max(day) FROM usage_day_totals")).scalar()
            events = db.session.execute(text("SELECT sum(events) FROM usage_day_totals")
                                        ).scalar()
            P = UsagePersonDaily
            top = db.session.execute(
                select(P.person).where(P.day >= end - timedelta(days=29))
                .group_by(P.person).order_by(func.sum(P.cost_usd).desc()).limit(1)).scalar()
            team, root = seed_teams(args, end) if args.teams else (None, None)
            db.session.remove()
        today = datetime.now(UTC).date()
        print(f"{events:,} events up to {end}; pages measured as of today ({today}); "
              f"{args.requests} requests each after one warm-up", flush=True)
        if end != today:
            print("  (the data ends before today: ranges reach past it, as on a quiet day)")

        settle_heap()  # as wsgi.py does once the app is built
        client = app.test_client()
        client.post("/auth/dev-login", data={"email": "a@example.com"})
        results: list[tuple[str, str, float, float, bool]] = []
        print(f"{'page':<22}{'range':<11}{'p50 ms':>8}{'p95 ms':>8}", flush=True)
        # Each page with its addresses: one per range, or itself once (no range).
        plan = [(label, path, export,
                 [(name, path + ("&" if "?" in path else "?") + query)
                  for name, query in ranges(today)])
                for label, path, export in pages(top, team, root)]
        plan += [(label, path, False, [("-", path)]) for label, path in UNRANGED]
        for label, path, export, urls in plan:
            if args.only and args.only not in label:
                continue
            if client.get(path).status_code == 404:
                print(f"{label:<22}(not built)")
                continue
            for name, url in urls:
                times = sorted(measure(client, url, args.requests))
                p50, p95 = statistics.median(times), percentile(times, 0.95)
                results.append((label, name, p50, p95, export))
                print(f"{label:<22}{name:<11}{p50:8.1f}{p95:8.1f}", flush=True)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    print(f"load average at end: {os.getloadavg()}")
    for export, goal in ((False, 150), (True, 300)):
        mine = [r for r in results if r[4] == export]
        if mine:
            worst = max(mine, key=lambda r: r[3])
            kind = "CSV exports" if export else "pages"
            print(f"worst p95 of {kind}: {worst[3]:.1f} ms ({worst[0]}, {worst[1]}); "
                  f"goal < {goal} ms: {'met' if worst[3] < goal else 'NOT met'}")
    if results:
        worst = max(results, key=lambda r: r[3])
        print(f"worst p95: {worst[3]:.1f} ms ({worst[0]}, {worst[1]})")


if __name__ == "__main__":
    main()
