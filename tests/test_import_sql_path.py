"""The Cursor CSV importer's two paths store the same thing: the SQL path (PostgreSQL parses a
well-formed file; see `imports.sql_import`) and the Python path (a parsed object per row, and
every file the SQL path hands over). Each file is imported into one account per path and the
stored events, rollups and reports compared field by field."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from abacus.extensions import db
from abacus.usage import imports
from abacus.usage.imports import import_cursor_csv
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv

EVENT_FIELDS = ("event_key, occurred_at, day, tool, actor, email, model, raw_model, kind, "
                "input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, "
                "cost_usd, cost_source, extras")
DAILY_FIELDS = ("day, tool, actor, email, model, events, input_tokens, output_tokens, "
                "cache_write_tokens, cache_read_tokens, cost_usd, estimated_cost_usd, "
                "unpriced_events, not_charged_events")


@pytest.fixture
def paths_used(monkeypatch):
    """Which path stored each import: True for SQL, False for Python."""
    used: list[bool] = []
    real = imports.sql_import

    def spy(*args, **kwargs):
        done = real(*args, **kwargs)
        used.append(done)
        return done

    monkeypatch.setattr(imports, "sql_import", spy)
    return used


def import_both(path: Path, monkeypatch, **kwargs) -> tuple:
    """Import `path` into account `sql` (SQL path allowed) and `py` (SQL path off)."""
    via_sql = import_cursor_csv(path, account_name="sql", **kwargs)
    with monkeypatch.context() as m:
        m.setattr(imports, "sql_import", lambda *a, **k: False)
        via_py = import_cursor_csv(path, account_name="py", **kwargs)
    return via_sql, via_py


def stored(account: str, table: str, fields: str) -> list[tuple]:
    # The seat actor names the account (`seat:sql`, `seat:py`): compare it without.
    fields = fields.replace("actor,", "replace(actor, a.name, '') AS actor,")
    return [tuple(r) for r in db.session.execute(text(
        f"SELECT {fields} FROM {table} t JOIN accounts a ON a.id = t.account_id "
        f"WHERE a.name = :name ORDER BY {fields.split(',')[0]}, 2, 3, 4, 5, 6, 7"),
        {"name": account})]


def assert_same(via_sql, via_py) -> None:
    for field in ("rows", "rejected", "total_mismatch_count", "total_mismatches", "notes"):
        assert getattr(via_sql, field) == getattr(via_py, field), field
    r1, r2 = via_sql.result, via_py.result
    assert (r1.inserted, r1.updated, r1.unchanged, r1.unpriced_models) == (
        r2.inserted, r2.updated, r2.unchanged, r2.unpriced_models)
    events = stored("sql", "usage_events", EVENT_FIELDS)
    assert events and events == stored("py", "usage_events", EVENT_FIELDS)
    daily = stored("sql", "usage_daily", DAILY_FIELDS)
    assert daily == stored("py", "usage_daily", DAILY_FIELDS)


def varied_rows(n: int, seed: int = 3) -> list[list[str]]:
    """Rows of the v3-team header with every plain cell form the SQL path takes."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    kinds = ["Included", "On-Demand", "Usage-based", "Errored, No Charge", "Free",
             "Aborted, Not Charged", "User API Key", ""]
    models = ["claude-4.5-sonnet", "claude-4.5-sonnet-thinking", "auto", "default", "gpt-5",
              "GPT-5-FAST", "composer-1", " gemini-2.5-pro ", "o3", "brand-new-model"]
    users = ["ana@example.com", "Dev@Example.com", " bo@example.com ", "cy@example.com"]
    costs = ["Included", "included", "-", "Free", "0.11", "$0.42", "1,234.5", "$2,000.123456",
             "0.0000005", "0", "", "12", "3.1234567"]
    out = []
    for _ in range(n):
        at = start + timedelta(seconds=rng.randrange(86400 * 40),
                               microseconds=rng.randrange(1_000_000))
        date = rng.choice([
            at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),  # naive: UTC
            (at + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+02:00",
            (at - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M") + "-05:00",
            at.strftime("%Y-%m-%d"),
        ])
        toks = [str(rng.randrange(0, 10 ** rng.randrange(1, 8))) for _ in range(4)]
        if rng.random() < 0.1:
            toks[rng.randrange(4)] = rng.choice(["", "-"])
        total = sum(int(t) for t in toks if t not in ("", "-"))
        total_cell = str(total + (rng.randrange(1, 9) if rng.random() < 0.1 else 0))
        out.append([date, rng.choice(users), rng.choice(["", "agent-7"]),
                    rng.choice(["", " auto-1 "]), rng.choice(kinds), rng.choice(models),
                    rng.choice(["Yes", "No", "yes", "TRUE", "1", "", "0"]), *toks, total_cell,
                    rng.choice(costs)])
    return out


def write_rows(path: Path, header: str, rows: list[list[str]], quoting=csv.QUOTE_ALL,
               lineterminator: str = "\r\n") -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=quoting, lineterminator=lineterminator)
        w.writerow(header.split(","))
        w.writerows(rows)
    return path


@pytest.mark.parametrize("quoting, lineterminator", [(csv.QUOTE_ALL, "\r\n"),
                                                     (csv.QUOTE_MINIMAL, "\n")])
def test_varied_export_stores_the_same_either_way(ctx, tmp_path, monkeypatch, paths_used,
                                                  quoting, lineterminator):
    path = write_rows(tmp_path / "varied.csv", VARIANTS["v3-team"], varied_rows(600),
                      quoting, lineterminator)
    via_sql, via_py = import_both(path, monkeypatch, user="owner@example.com")
    assert paths_used == [True]  # the SQL path took the file
    assert via_sql.total_mismatch_count > 0 and via_sql.total_mismatches
    assert_same(via_sql, via_py)
    not_charged = db.session.execute(text(
        "SELECT count(*) FROM usage_events WHERE extras ? 'would_have_cost_usd'")).scalar()
    assert not_charged > 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_header_variant_stores_the_same_either_way(ctx, tmp_path, monkeypatch,
                                                         paths_used, variant):
    header = VARIANTS[variant]
    path = write_csv(tmp_path / f"{variant}.csv", header, variant_rows(header))
    assert_same(*import_both(path, monkeypatch, user="me@example.com"))
    assert paths_used == [True]


@pytest.mark.parametrize("case", ["non-ASCII user", "quote inside a cell",
                                  "line break inside a cell", "blank line", "30 February",
                                  "comma-grouped tokens", "hour 24"])
def test_unusual_files_take_the_python_path_and_store_the_same(ctx, tmp_path, monkeypatch,
                                                               paths_used, case):
    rows = varied_rows(40, seed=9)
    header = VARIANTS["v3-team"]
    if case == "non-ASCII user":
        rows[5][1] = "zoë@example.com"
    elif case == "quote inside a cell":
        rows[5][5] = 'model "x"'
    elif case == "line break inside a cell":
        rows[5][2] = "agent\nseven"
    elif case == "30 February":
        rows[5][0] = "2026-02-30T10:00:00Z"
    elif case == "comma-grouped tokens":
        rows[5][7], rows[5][11] = "1,234", str(1234 + sum(int(t or 0) for t in rows[5][8:11]
                                                         if t != "-"))
    elif case == "hour 24":
        rows[5][0] = "2026-03-02T24:00:00Z"
    path = write_rows(tmp_path / "odd.csv", header, rows)
    if case == "blank line":
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r\n\r\n", 3))
    if case in ("30 February", "hour 24"):
        with pytest.raises(imports.ImportFailed) as refused:
            import_cursor_csv(path, account_name="sql")
        assert "row 7, column 'Date'" in refused.value.report.problem_lines()[0]
        assert paths_used == [False]
        return
    assert_same(*import_both(path, monkeypatch))
    assert paths_used == [False]


def test_reimport_through_the_sql_path_changes_nothing(ctx, tmp_path, monkeypatch,
                                                       paths_used):
    path = write_rows(tmp_path / "again.csv", VARIANTS["v3-team"], varied_rows(200))
    first = import_cursor_csv(path, account_name="sql")
    before = stored("sql", "usage_events", EVENT_FIELDS)
    again = import_cursor_csv(path, account_name="sql")
    assert paths_used == [True, True]
    assert (again.result.inserted, again.result.updated) == (0, 0)
    assert again.result.unchanged == first.result.total
    assert stored("sql", "usage_events", EVENT_FIELDS) == before
