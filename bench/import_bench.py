"""Cursor CSV import throughput against a plain PostgreSQL COPY of the same file.

    python bench/import_bench.py [--rows N] [--keep] [--teams N]

Generates a team export (v3-team header) with N rows, imports it into a fresh, migrated
database through the real import path (`imports.import_cursor_csv`), then COPYs the same file
into a bare table with the same unique key, and prints a last line like

    import: 1000000 rows in 14.2s (70400 rows/s), peak RSS 180 MB; COPY 175000 rows/s; ratio 0.40

Goal: ratio >= 0.33 and peak RSS under 250 MB for any N. `--teams N` first puts the file's
2,000 people into N teams under one root, so the import also keeps the per-team rollup. Uses
DATABASE_URL's server, else TEST_DATABASE_URL's, else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = ["Date", "User", "Cloud Agent ID", "Automation ID", "Kind", "Model", "Max Mode",
          "Input (w/ Cache Write)", "Input (w/o Cache Write)", "Cache Read", "Output Tokens",
          "Total Tokens", "Cost"]
MODELS = ["claude-4.5-sonnet", "claude-4.5-sonnet-thinking", "auto", "gpt-5", "gpt-5-codex",
          "claude-4.5-opus-high-thinking", "composer-1", "gemini-2.5-pro", "claude-4-sonnet",
          "o3", "gpt-4.1", "claude-4.5-haiku"]
KINDS = ["Included", "On-Demand", "Usage-based", "Errored, No Charge"]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Stream rows to disk (newest first, like Cursor); (Date, User, Model) is unique."""
    rng = random.Random(seed)
    users = [f"user{i:04d}@example.com" for i in range(2000)]
    t = datetime(2026, 6, 30, 23, 59, tzinfo=UTC)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(HEADER)
        for _ in range(rows):
            t -= timedelta(milliseconds=rng.randint(1, 4000))
            cw, inp, cr, out = (rng.randint(0, 30000), rng.randint(0, 50000),
                                rng.randint(0, 900000), rng.randint(0, 20000))
            kind = rng.choice(KINDS)
            cost = ("Included" if kind == "Included" else "-" if kind.startswith("Errored")
                    else f"{rng.uniform(0, 2):.2f}")
            w.writerow([t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                        rng.choice(users), "", "", kind, rng.choice(MODELS),
                        rng.choice(("Yes", "No")), cw, inp, cr, out, cw + inp + cr + out, cost])


def server_url(tmp: Path) -> str:
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from abacus import embedded

    return embedded.database_url(tmp / "instance", database="postgres")


def dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(
        hide_password=False)


@contextmanager
def scratch_database(tmp: Path, keep: bool = False) -> Iterator[str]:
    """A new, empty database on the bench server; dropped afterwards unless `keep`."""
    server = server_url(tmp)
    name = f"abacus_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(dsn(server, make_url(server).database or "postgres"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield dsn(server, name)
    finally:
        if not keep:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def seed_teams(teams: int) -> None:
    """`teams` teams under one root, the file's people spread over them (committed)."""
    from abacus.extensions import db
    from abacus.teams import tree

    root = tree.create_team("Org")
    made = [tree.create_team(f"Team {i:02d}", parent=root) for i in range(teams)]
    since = datetime(2026, 1, 1, tzinfo=UTC).date()
    for i in range(2000):
        tree.add_membership(made[i % teams], f"user{i:04d}@example.com", since)
    db.session.commit()


def run_import(db_url: str, csv_path: Path, tmp: Path, teams: int = 0) -> tuple[int, float]:
    from flask_migrate import upgrade

    from abacus import create_app
    from abacus.usage.imports import import_cursor_csv

    app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url, "SECRET_KEY": "bench" * 4,
                      "ABACUS_INSTANCE_PATH": str(tmp / "instance"),
                      "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
    with app.app_context():
        upgrade()
        if teams:
            seed_teams(teams)
        started = time.perf_counter()
        report = import_cursor_csv(csv_path, account_name="bench")
        elapsed = time.perf_counter() - started
        from abacus.extensions import db

        db.session.remove()
        db.engine.dispose()
    return report.result.inserted, elapsed


def run_copy(db_url: str, csv_path: Path) -> float:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""
            CREATE TABLE bare_copy (
                date timestamptz, "user" text, cloud_agent_id text, automation_id text,
                kind text, model text, max_mode text, cache_write bigint, input bigint,
                cache_read bigint, output bigint, total bigint, cost text,
                UNIQUE (date, "user", model))""")
        started = time.perf_counter()
        with csv_path.open("rb") as fh:
            cur.copy_expert("COPY bare_copy FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
        conn.commit()
        return time.perf_counter() - started


def run_floor(db_url: str) -> float:
    """Seconds to write the imported events again into an empty copy of usage_events with
    all its indexes: what storing them costs at the least, before any parsing or rollup."""
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("SET jit = off")
        cur.execute("CREATE TABLE floor_events (LIKE usage_events INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        cur.execute("INSERT INTO floor_events SELECT * FROM usage_events")
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--teams", type=int, default=0,
                        help="put the file's people into N teams first (the import keeps the "
                             "per-team rollup too)")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # A quarter-size file first: peak RSS only grows, so if the full file's peak is no
        # higher, memory does not grow with the file.
        rss = []
        for rows in (max(1, args.rows // 4), args.rows):
            csv_path = tmp / f"cursor-export-{rows}.csv"
            t0 = time.perf_counter()
            generate(csv_path, rows)
            size_mb = csv_path.stat().st_size / 1e6
            print(f"generated {rows} rows ({size_mb:.0f} MB) in {time.perf_counter() - t0:.1f}s",
                  flush=True)
            with scratch_database(tmp, keep=args.keep and rows == args.rows) as db_url:
                inserted, import_s = run_import(db_url, csv_path, tmp, args.teams)
                peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                rss.append((rows, size_mb, peak_mb))
                print(f"import: {inserted} events stored in {import_s:.1f}s, peak RSS so far "
                      f"{peak_mb:.0f} MB", flush=True)
                if rows == args.rows:
                    copy_s = run_copy(db_url, csv_path)
                    print(f"COPY into a bare table: {copy_s:.1f}s", flush=True)
                    floor_s = run_floor(db_url)
                    print(f"the same events written again into a copy of usage_events with "
                          f"its indexes: {floor_s:.1f}s", flush=True)
            csv_path.unlink()

    print("peak RSS by file size: " + ", ".join(f"{r} rows ({mb:.0f} MB) {peak:.0f} MB"
                                               for r, mb, peak in rss))
    print(f"load average at end: {os.getloadavg()}")
    import_rate = args.rows / import_s
    copy_rate = args.rows / copy_s
    print(f"storing the events alone (usage_events and its indexes) is {floor_s / copy_s:.1f}x "
          f"the bare COPY; the import is {import_s / floor_s:.1f}x that")
    print(f"import: {args.rows} rows in {import_s:.1f}s ({import_rate:.0f} rows/s), "
          f"peak RSS {peak_mb:.0f} MB; COPY {copy_rate:.0f} rows/s; "
          f"ratio {import_rate / copy_rate:.2f}")


if __name__ == "__main__":
    main()
