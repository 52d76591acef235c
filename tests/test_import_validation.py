"""Cursor CSV validation: one rule set whichever way a file comes in (the CLI, the web upload)
and whichever parser reads a row (the fast path or the careful one). Every refusal names row
and field, leaves a failed `sync_runs` record with the report, and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abacus.extensions import db
from abacus.models import Account, SyncRun, UsageEvent
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv
from tests.test_status_page import HTMX, job_ids, run_jobs, table_row, upload
from tests.test_web import sign_in, text_of

HEADER = VARIANTS["v2-team"]
TOMORROW = datetime.now(UTC).date() + timedelta(days=1)

FUTURE = f"is after {TOMORROW}: usage cannot be from the future"

# (column, bad value, what the report says); the value goes into the second data row (row 3).
BAD_CELLS = {
    "underscored tokens": ("Output Tokens", "1_000", "is not a whole number of tokens"),
    "full-width digits": ("Output Tokens", "１２", "is not a whole number of tokens"),
    "padded tokens": ("Cache Read", " 20 ", "is not a whole number of tokens"),
    "exponent tokens": ("Input (w/o Cache Write)", "1e5", "is not a whole number of tokens"),
    "tokens past BIGINT": ("Input (w/ Cache Write)", str(2**63),
                           "is more than 100,000,000,000 tokens"),
    "total past BIGINT": ("Total Tokens", str(2**64), "is more than 100,000,000,000 tokens"),
    "exponent cost": ("Cost", "1e5", "is not an amount in dollars"),
    "cost past NUMERIC(14,6)": ("Cost", "$100000000", "is more than $99,999,999.999999"),
    "year 2100": ("Date", "2100-01-01T00:00:00.000Z", FUTURE),
    "year 2999": ("Date", "2999-06-01", FUTURE),
    "9999-12-31": ("Date", "9999-12-31", FUTURE),
    "past datetime.max in UTC": ("Date", "9999-12-31T23:00:00-05:00",
                                 "is not an ISO 8601 date or time"),
    "the day after tomorrow": ("Date", (TOMORROW + timedelta(days=1)).isoformat(),
                               FUTURE),
    "before 2020": ("Date", "2019-12-31T23:59:59Z", "is before 2020-01-01"),
}


def bad_file(folder: Path, case: str) -> tuple[Path, str]:
    """An export whose row 3 is bad in one way, and the problem line expected for it."""
    rows = variant_rows(HEADER)
    if case == "extra column":
        path = write_csv(folder / "bad.csv", HEADER, rows)
        lines = path.read_text().splitlines()
        lines[2] += ',"surprise"'
        path.write_text("\n".join(lines) + "\n")
        return path, "bad.csv: row 3: has 12 fields, the header has 11"
    column, value, message = BAD_CELLS[case]
    rows[1][column] = value
    return (write_csv(folder / "bad.csv", HEADER, rows),
            f"bad.csv: row 3, column {column!r}: {value!r} {message}")


CASES = [*BAD_CELLS, "extra column"]


def stored(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.execute(select(func.count(UsageEvent.id))).scalar_one(),
                db.session.execute(select(func.count(Account.id))).scalar_one())


def failed_run(app) -> SyncRun:
    with app.app_context():
        run = db.session.execute(select(SyncRun)).scalar_one()
        db.session.expunge(run)
        return run


@pytest.mark.parametrize("case", CASES)
def test_cli_refuses_the_bad_cell_with_row_field_and_a_run_record(app, runner, tmp_path, case):
    path, line = bad_file(tmp_path, case)
    result = runner.invoke(args=["abacus", "import", "cursor-csv", str(path)])
    assert result.exit_code != 0
    assert line.split(":", 2)[1] in result.output  # " row 3, column '…'" / " row 3"
    assert "\n" + line in "\n" + result.output  # the problem line as the report starts it
    assert "CONTEXT" not in result.output
    run = failed_run(app)
    assert run.status == "failed"
    assert [p for p in run.details["problems"] if p.startswith(line)]
    assert stored(app) == (0, 0)


@pytest.mark.parametrize("case", CASES)
def test_web_upload_refuses_the_bad_cell_with_row_field_and_a_run_record(app, client, tmp_path,
                                                                         case):
    path, line = bad_file(tmp_path, case)
    sign_in(client, "admin@example.com")
    (job_id,) = job_ids(upload(client, path))
    run_jobs(app)
    done = client.get(f"/admin/jobs/{job_id}", headers=HTMX)
    assert "Nothing was imported: 1 bad row in 5 data rows of bad.csv" in text_of(done)
    column, _, message = BAD_CELLS.get(case, ("", "", "has 12 fields"))
    assert table_row(done, message).startswith(f"3 {column}".strip() + " ")
    assert "CONTEXT" not in text_of(done)
    run = failed_run(app)
    assert run.status == "failed"
    assert [p for p in run.details["problems"] if p.startswith(line)]
    assert stored(app) == (0, 0)


def test_a_good_file_still_imports_on_both_parsers(app, runner, tmp_path):
    rows = variant_rows(HEADER)
    rows[0]["Output Tokens"] = "1,234"  # thousands separators stay fine (the careful path)
    rows[1]["Cost"] = "$1,000.50"
    rows[2]["Date"] = f"{TOMORROW.isoformat()}T00:00:00Z"  # a UTC day ahead of some zones
    path = write_csv(tmp_path / "good.csv", HEADER, rows)
    result = runner.invoke(args=["abacus", "import", "cursor-csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "5 inserted" in result.output


def test_allow_before_imports_older_usage_that_is_refused_by_default(app, runner, tmp_path):
    rows = variant_rows(HEADER)
    rows[0]["Date"] = "2019-06-01T12:00:00Z"
    path = write_csv(tmp_path / "old.csv", HEADER, rows)
    refused = runner.invoke(args=["abacus", "import", "cursor-csv", str(path)])
    assert refused.exit_code != 0 and "is before 2020-01-01" in refused.output
    ok = runner.invoke(args=["abacus", "import", "cursor-csv", str(path),
                             "--allow-before", "2019-01-01"])
    assert ok.exit_code == 0, ok.output
    assert stored(app)[0] == 5
