"""Cursor CSV import: every header variant, exact totals, refusal stores nothing, idempotent."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from abacus.extensions import db
from abacus.models import Account, SyncRun, UsageEvent
from abacus.usage.imports import ImportFailed, import_cursor_csv

# Header lines exactly as cursor.md §6 lists them.
VARIANTS = {
    "v1": "Date,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
          "Total Tokens,Cost,Cost to you",
    "v2": "Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,"
          "Output Tokens,Total Tokens,Cost",
    "v2-team": "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),"
               "Cache Read,Output Tokens,Total Tokens,Cost",
    "v3": "Date,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,Input (w/ Cache Write),"
          "Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost",
    "v3-team": "Date,User,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,"
               "Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
               "Total Tokens,Cost",
    "requests": "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),"
                "Cache Read,Output Tokens,Total Tokens,Requests",
    "lowercase-team": "Date,User,Team,Kind,Model,Max Mode,Input (w/ cache write),"
                      "Input (no cache),Cache Read,Output Tokens,Total Tokens,Cost",
}

# The three real-looking rows of cursor.md §6 plus two more: (date, user, kind, model,
# cache_write, input, cache_read, output, cost)
ROWS = [
    ("2026-04-09T20:01:10.528Z", "dev@example.com", "Included", "composer-2",
     0, 343446, 29045760, 915201, "Included"),
    ("2026-04-09T18:02:13.576Z", "dev@example.com", "On-Demand", "claude-4.5-sonnet-thinking",
     0, 43478, 420864, 7957, "0.11"),
    ("2026-04-09T07:39:09.091Z", "ana@example.com", "Errored, No Charge", "gpt-5",
     0, 104504, 985600, 3666, "-"),
    ("2026-04-08T10:00:00.000Z", "ana@example.com", "Usage-based", "auto",
     28342, 775, 105891, 21282, "$0.42"),
    ("2026-04-08T10:00:00.000Z", "dev@example.com", "Usage-based", "auto",
     160882, 7025, 2117021, 13340, "1.20"),
]
SUMS = {"cache_write": 28342 + 160882, "input": 343446 + 43478 + 104504 + 775 + 7025,
        "cache_read": 29045760 + 420864 + 985600 + 105891 + 2117021,
        "output": 915201 + 7957 + 3666 + 21282 + 13340}


def write_csv(path: Path, header: str, rows: list[dict[str, str]]) -> Path:
    names = header.split(",")
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(names)
        for row in rows:
            w.writerow([row.get(n, "") for n in names])
    return path


def variant_rows(header: str) -> list[dict[str, str]]:
    out = []
    for date, user, kind, model, cw, inp, cr, outp, cost in ROWS:
        total = str(cw + inp + cr + outp)
        row = {"Date": date, "User": user, "Kind": kind, "Model": model, "Max Mode": "Yes",
               "Input (w/ Cache Write)": str(cw), "Input (w/ cache write)": str(cw),
               "Input (w/o Cache Write)": str(inp), "Input (no cache)": str(inp),
               "Cache Read": str(cr), "Output Tokens": str(outp), "Total Tokens": total,
               "Cost": cost, "Cost to you": cost, "Requests": "1", "Team": "core",
               "Cloud Agent ID": "", "Automation ID": ""}
        out.append(row)
    return out


def totals() -> tuple:
    return db.session.execute(text(
        "SELECT count(*), sum(input_tokens), sum(cache_write_tokens), sum(cache_read_tokens), "
        "sum(output_tokens) FROM usage_events")).one()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_header_variant_imports_with_exact_token_totals(ctx, tmp_path, variant):
    path = write_csv(tmp_path / f"{variant}.csv", VARIANTS[variant],
                     variant_rows(VARIANTS[variant]))
    report = import_cursor_csv(path, user="me@example.com")
    assert (report.result.inserted, report.rejected) == (5, 0)
    assert totals() == (5, SUMS["input"], SUMS["cache_write"], SUMS["cache_read"],
                        SUMS["output"])
    daily = db.session.execute(text(
        "SELECT sum(events), sum(input_tokens), sum(cache_write_tokens) FROM usage_daily")).one()
    assert daily == (5, SUMS["input"], SUMS["cache_write"])


def test_costs_kinds_and_models_are_interpreted(ctx, tmp_path):
    header = VARIANTS["v3-team"]
    import_cursor_csv(write_csv(tmp_path / "e.csv", header, variant_rows(header)))
    events = db.session.execute(select(UsageEvent).order_by(UsageEvent.occurred_at,
                                                            UsageEvent.email)).scalars().all()
    by_kind = {(e.kind, e.email): e for e in events}
    included = by_kind[("Included", "dev@example.com")]
    assert included.cost_source == "unpriced"  # composer-2 has no price: flagged, not $0
    assert included.cost_usd is None
    assert by_kind[("On-Demand", "dev@example.com")].cost_usd == Decimal("0.11")
    assert by_kind[("On-Demand", "dev@example.com")].model == "sonnet-4.5"
    assert by_kind[("On-Demand", "dev@example.com")].raw_model == "claude-4.5-sonnet-thinking"
    errored = by_kind[("Errored, No Charge", "ana@example.com")]
    assert (errored.cost_usd, errored.cost_source) == (Decimal("0"), "not_charged")
    dollar = by_kind[("Usage-based", "ana@example.com")]
    assert dollar.cost_usd == Decimal("0.42")
    # Same timestamp, different user: two events.
    assert sum(1 for e in events if e.kind == "Usage-based") == 2


def test_included_rows_get_an_estimate_marked_estimated(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    rows = [{"Date": "2026-04-01T10:00:00.000Z", "User": "a@example.com", "Kind": "Included",
             "Model": "claude-4.5-sonnet", "Max Mode": "No", "Input (w/ Cache Write)": "0",
             "Input (w/o Cache Write)": "100000", "Cache Read": "0", "Output Tokens": "0",
             "Total Tokens": "100000", "Cost": "Included"}]
    import_cursor_csv(write_csv(tmp_path / "i.csv", header, rows))
    e = db.session.execute(select(UsageEvent)).scalar_one()
    assert (e.cost_source, e.cost_usd) == ("estimated", Decimal("0.3"))  # 100K x $3 per 1M
    assert e.extras["cost_label"] == "Included"


def test_reimporting_the_same_file_adds_nothing(ctx, tmp_path):
    header = VARIANTS["v3-team"]
    path = write_csv(tmp_path / "e.csv", header, variant_rows(header))
    first = import_cursor_csv(path)
    again = import_cursor_csv(path)
    assert first.result.inserted == 5
    assert (again.result.inserted, again.result.updated, again.result.unchanged) == (0, 0, 5)
    runs = db.session.execute(select(SyncRun).order_by(SyncRun.id)).scalars().all()
    assert [(r.kind, r.status, r.inserted, r.unchanged) for r in runs] == [
        ("import", "success", 5, 0), ("import", "success", 0, 5)]


def test_a_bad_file_stores_nothing_and_names_row_column_value(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    rows = variant_rows(header)
    rows[1]["Output Tokens"] = "12x"
    rows[3]["Date"] = "yesterday"
    rows[4]["Cost"] = "$abc"
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(ImportFailed) as info:
        import_cursor_csv(path)
    lines = info.value.report.problem_lines()
    assert lines == [
        "bad.csv: row 3, column 'Output Tokens': '12x' is not a whole number of tokens",
        "bad.csv: row 5, column 'Date': 'yesterday' is not an ISO 8601 date or time",
        "bad.csv: row 6, column 'Cost': '$abc' is not an amount in dollars",
    ]
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar_one() == 0
    assert db.session.execute(select(func.count(Account.id))).scalar_one() == 0
    run = db.session.execute(select(SyncRun)).scalar_one()
    assert (run.status, run.rejected, run.fetched) == ("failed", 3, 5)


def test_a_bad_file_does_not_touch_what_was_stored_before(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    good = variant_rows(header)
    import_cursor_csv(write_csv(tmp_path / "good.csv", header, good))
    before = totals()
    revised = [dict(r, **{"Output Tokens": "1"}) for r in good]
    revised[2]["Cache Read"] = "n/a"
    with pytest.raises(ImportFailed):
        import_cursor_csv(write_csv(tmp_path / "bad.csv", header, revised))
    assert totals() == before


def test_only_first_twenty_problems_are_listed_with_a_count(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    rows = [dict(variant_rows(header)[1], **{"Output Tokens": "x", "Date":
                                               f"2026-04-01T00:00:{i:02d}.000Z"})
            for i in range(30)]
    with pytest.raises(ImportFailed) as info:
        import_cursor_csv(write_csv(tmp_path / "many.csv", header, rows))
    lines = info.value.report.problem_lines()
    assert len(lines) == 21 and lines[-1] == "… and 10 more bad rows"


@pytest.mark.parametrize("content, message", [
    ("", "empty file: no header row"),
    ("Date,User,Kind,Model\n", "column 'Input (w/ Cache Write)': required column is missing"),
    (VARIANTS["v2-team"] + "\n", "the file has no data rows"),
])
def test_malformed_files_are_refused(ctx, tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(ImportFailed) as info:
        import_cursor_csv(path)
    assert any(message in line for line in info.value.report.problem_lines())
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar_one() == 0


def test_skip_invalid_stores_the_good_rows(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    rows = variant_rows(header)
    rows[0]["Input (w/o Cache Write)"] = "lots"
    report = import_cursor_csv(write_csv(tmp_path / "s.csv", header, rows), skip_invalid=True)
    assert (report.result.inserted, report.rejected) == (4, 1)
    run = db.session.get(SyncRun, report.run_id)
    assert (run.status, run.inserted, run.rejected) == ("partial", 4, 1)


def test_total_mismatch_is_kept_and_reported(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    rows = variant_rows(header)
    rows[0]["Total Tokens"] = "1"
    report = import_cursor_csv(write_csv(tmp_path / "t.csv", header, rows))
    assert report.result.inserted == 5
    assert report.total_mismatch_count == 1 and report.total_mismatches == [2]


def test_personal_export_is_attributed_to_user_or_kept_unmapped(ctx, tmp_path):
    header = VARIANTS["v3"]
    path = write_csv(tmp_path / "p.csv", header, variant_rows(header))
    import_cursor_csv(path, account_name="my-seat")
    emails = set(db.session.execute(select(UsageEvent.email)).scalars())
    actors = set(db.session.execute(select(UsageEvent.actor)).scalars())
    assert emails == {None} and actors == {"seat:my-seat"}
    # Re-imported with --user: attributed, not duplicated.
    again = import_cursor_csv(path, account_name="my-seat", user="me@example.com")
    assert (again.result.inserted, again.result.updated) == (0, 5)
    assert set(db.session.execute(select(UsageEvent.email)).scalars()) == {"me@example.com"}


def test_account_defaults(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    path = write_csv(tmp_path / "d.csv", header, variant_rows(header))
    assert import_cursor_csv(path).account == "cursor-csv"
    db.session.add(Account(provider="anthropic", name="claude"))
    db.session.commit()
    assert import_cursor_csv(path).account == "cursor-csv"  # the only Cursor account
    with pytest.raises(ValueError, match="not Cursor"):
        import_cursor_csv(path, account_name="claude")


def test_api_default_model_and_csv_auto_share_the_key():
    from abacus.providers.cursor_events import cursor_event_key

    assert cursor_event_key(1, "A@example.com", "default") == cursor_event_key(
        1, "a@example.com", "auto")


def test_cli_import_success_and_refusal(runner, tmp_path):
    header = VARIANTS["v2-team"]
    ok = write_csv(tmp_path / "ok.csv", header, variant_rows(header))
    result = runner.invoke(args=["abacus", "import", "cursor-csv", str(ok)])
    assert result.exit_code == 0, result.output
    assert "5 inserted, 0 updated, 0 unchanged" in result.output
    assert "'composer-2' has no price" in result.output
    rows = variant_rows(header)
    rows[0]["Model"] = ""
    bad = write_csv(tmp_path / "bad.csv", header, rows)
    result = runner.invoke(args=["abacus", "import", "cursor-csv", str(bad)])
    assert result.exit_code != 0
    assert "bad.csv: row 2, column 'Model'" in result.output
    assert "nothing was imported" in result.output
    again = runner.invoke(args=["abacus", "import", "cursor-csv", str(ok)])
    assert "0 inserted, 0 updated, 5 unchanged" in again.output


def test_progress_reports_reading_then_storing_then_done(ctx, tmp_path):
    header = VARIANTS["v2-team"]
    start = datetime(2026, 4, 1, tzinfo=UTC)
    rows = [dict(variant_rows(header)[1],
                 Date=(start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"))
            for i in range(45_000)]
    path = write_csv(tmp_path / "big.csv", header, rows)
    seen: list[tuple[str, int, int, int]] = []
    report = import_cursor_csv(path, progress=lambda *a: seen.append(a))
    assert report.result.inserted == 45_000
    stages = [s for s, *_ in seen]
    assert stages[0] == "reading" and stages[-2:] == ["storing", "done"]
    assert [r for s, _, _, r in seen if s == "reading"] == [20_000, 40_000]
    size = path.stat().st_size
    assert seen[-1][1:] == (size, size, 45_000)


GOOD_LINE = "2026-04-01T00:00:00Z,a@example.com,Included,gpt-5,No,0,1,0,1,2,0.01\n"


@pytest.mark.parametrize("payload, message", [
    ((VARIANTS["v2-team"] + "\n" + GOOD_LINE).encode() + "2026-04-01,caf\xe9@example.com\n".encode(
        "latin-1"), "row 3: the file is not UTF-8 text"),
    ((VARIANTS["v2-team"] + "\n" + GOOD_LINE + GOOD_LINE).encode() + b"2026,a\x00y\n",
     "row 4: the file is not valid CSV"),
])
def test_unreadable_files_are_refused_with_the_row(ctx, tmp_path, payload, message):
    path = tmp_path / "odd.csv"
    path.write_bytes(payload)
    with pytest.raises(ImportFailed) as info:
        import_cursor_csv(path)
    assert any(message in line for line in info.value.report.problem_lines()), \
        info.value.report.problem_lines()
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar_one() == 0
