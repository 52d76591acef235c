"""CLI stats/demo/rollups, the RQ import job, configuration errors, README truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import func, select, text

from abacus.config import ConfigError, Settings, markdown_table
from abacus.extensions import db, redis_connection
from abacus.models import SyncRun, UsageEvent

ROOT = Path(__file__).resolve().parent.parent
from abacus.github.attribution import TOOLS  # noqa: E402
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv  # noqa: E402


def test_stats_json_on_an_empty_database(runner):
    result = runner.invoke(args=["abacus", "stats", "--json"])
    assert result.exit_code == 0, result.output
    zero = {"events": 0, "input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0,
            "cache_read_tokens": 0, "cost_usd": "0.00", "unpriced_events": 0,
            "not_charged_events": 0}
    assert json.loads(result.output) == {"events": 0, "people": 0, "first_day": None,
                                         "last_day": None,
                                         "tools": {"claude_code": zero, "cursor": zero,
                                                   "copilot": zero, "openai": zero,
                                                   "codex": zero, "openrouter": zero},
                                         "commits": {"total": 0, "ai_attributed": 0,
                                                     "by_tool": dict.fromkeys(TOOLS, 0)}}


def test_stats_json_after_an_import(runner, tmp_path):
    header = VARIANTS["v2-team"]
    path = write_csv(tmp_path / "e.csv", header, variant_rows(header))
    assert runner.invoke(args=["abacus", "import", "cursor-csv", str(path)]).exit_code == 0
    stats = json.loads(runner.invoke(args=["abacus", "stats", "--json"]).output)
    assert stats["events"] == 5 and stats["people"] == 2
    assert (stats["first_day"], stats["last_day"]) == ("2026-04-08", "2026-04-09")
    cursor = stats["tools"]["cursor"]
    assert cursor["input_tokens"] == 343446 + 43478 + 104504 + 775 + 7025
    assert cursor["cache_write_tokens"] == 28342 + 160882
    # 0.11 + 0 (errored) + 0.42 + 1.20; the Included composer-2 row is unpriced.
    assert cursor["cost_usd"] == "1.73"
    table = runner.invoke(args=["abacus", "stats"]).output
    assert "cursor" in table and "1.73" in table


def test_demo_seeds_realistic_usage_and_is_rerunnable(runner, ctx):
    result = runner.invoke(args=["abacus", "demo"])
    assert result.exit_code == 0, result.output
    stats = json.loads(runner.invoke(args=["abacus", "stats", "--json"]).output)
    assert 20 <= stats["people"] <= 27  # 25 people and an unmapped CI key
    assert stats["tools"]["claude_code"]["events"] > 500
    assert stats["tools"]["cursor"]["events"] > 1000
    models = set(db.session.execute(select(UsageEvent.model).distinct()).scalars())
    assert {"sonnet-4.5", "opus-4.5", "gpt-5", "auto"} <= models
    commits = stats["commits"]
    assert commits["total"] > 1000
    assert 0.2 < commits["ai_attributed"] / commits["total"] < 0.6
    assert all(commits["by_tool"][t] > 30
               for t in ("claude_code", "cursor", "codex", "github_copilot"))
    again = runner.invoke(args=["abacus", "demo"])
    assert "0 new, 0 updated" in again.output
    assert "demo: 0 new commits" in again.output


def test_import_job_runs_on_a_real_queue_with_progress(ctx, tmp_path):
    header = VARIANTS["v3-team"]
    path = write_csv(tmp_path / "job.csv", header, variant_rows(header))
    queue = Queue("test-imports", connection=redis_connection())
    job = queue.enqueue("abacus.jobs.import_csv", str(path))
    SimpleWorker([queue], connection=redis_connection()).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    report = job.return_value()
    assert (report["inserted"], report["rejected"], report["stored"]) == (5, 0, True)
    assert job.meta["progress"]["percent"] == 100.0
    assert job.meta["progress"]["rows"] == 5
    assert job.meta["progress"]["stage"] == "done"
    run = db.session.get(SyncRun, report["run_id"])
    assert (run.job_id, run.status) == (job.id, "success")


def test_refused_file_in_a_job_returns_the_report(ctx, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Date,Model\n")
    queue = Queue("test-imports", connection=redis_connection())
    job = queue.enqueue("abacus.jobs.import_csv", str(path))
    SimpleWorker([queue], connection=redis_connection()).work(burst=True)
    job.refresh()
    report = job.return_value()
    assert report["stored"] is False
    assert any("required column is missing" in p for p in report["problems"])


def test_rollups_rebuild_follows_a_new_timezone(app, app_env, runner):
    from abacus import create_app

    header = VARIANTS["v2-team"]
    rows = [dict(variant_rows(header)[1], Date="2026-04-09T23:30:00.000Z")]
    path = write_csv(Path(app_env["ABACUS_INSTANCE_PATH"]) / "tz.csv", header, rows)
    runner.invoke(args=["abacus", "import", "cursor-csv", str(path)])
    tokyo = create_app({**app_env, "ABACUS_TIMEZONE": "Asia/Tokyo"}, dotenv=False)
    result = tokyo.test_cli_runner().invoke(args=["abacus", "rollups", "rebuild"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        days = db.session.execute(text("SELECT DISTINCT day::text FROM usage_daily")).scalars()
        assert list(days) == ["2026-04-10"]
        assert db.session.execute(select(func.count(UsageEvent.id))).scalar_one() == 1


STRONG_KEY = "9f3c1a7e5b2d48e0a6c4f1b3d7e9a2c5b8d0f4e6a1c3b5d7"  # passes the production check


@pytest.mark.parametrize("env, message", [
    ({"ABACUS_TIMEZONE": "Mars/Olympus"}, "ABACUS_TIMEZONE: 'Mars/Olympus' is not a known"),
    ({"PORT": "http"}, "PORT: expected a whole number, got 'http'"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL: expected a URL starting with postgresql"),
    ({"DATABASE_URL": "postgresql://db/abacus"}, "SECRET_KEY: required in production"),
    ({"ABACUS_ENV": "staging"}, "ABACUS_ENV: expected one of development, test, production"),
    ({"ABACUS_ENV": "production", "SECRET_KEY": STRONG_KEY, "ABACUS_DEV_LOGIN": "1"},
     "ABACUS_DEV_LOGIN: the development sign-in cannot be enabled"),
    ({"ABACUS_DEV_LOGIN": "maybe"}, "ABACUS_DEV_LOGIN: expected 1/0"),
    ({"ABACUS_ENV": "production", "SECRET_KEY": STRONG_KEY, "ALLOWED_DOMAINS": "example.com"},
     "sign-in: production needs a sign-in provider"),
    ({"ABACUS_ENV": "production", "SECRET_KEY": STRONG_KEY, "GOOGLE_CLIENT_ID": "id",
      "GOOGLE_CLIENT_SECRET": "s"}, "ALLOWED_DOMAINS: production needs at least one"),
    ({"ABACUS_PROXY_COUNT": "9"}, "ABACUS_PROXY_COUNT: expected a number from 0 to 5"),
    ({"ABACUS_LOG_FORMAT": "xml"}, "ABACUS_LOG_FORMAT: expected one of text, json"),
])
def test_bad_configuration_is_one_clear_line(tmp_path, env, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"ABACUS_INSTANCE_PATH": str(tmp_path), **env})
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_flask_cli_prints_the_config_error_and_exits_nonzero(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ABACUS_TIMEZONE": "Nowhere/Town",
           "ABACUS_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql://x/y"}
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "abacus", "stats"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "abacus: configuration error: ABACUS_TIMEZONE: 'Nowhere/Town'" in proc.stderr


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    first = Settings.from_mapping({"ABACUS_INSTANCE_PATH": str(tmp_path)})
    second = Settings.from_mapping({"ABACUS_INSTANCE_PATH": str(tmp_path)})
    assert first.env == "development" and len(first.secret_key) == 64
    assert second.secret_key == first.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_readme_configuration_table_is_current():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- config-table")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- /config-table -->")]
    assert block.strip() == markdown_table().strip()
    makefile = (ROOT / "Makefile").read_text()
    assert "make run" in readme and "make test" in readme
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_dotenv_fills_what_the_environment_leaves_unset(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("ABACUS_TIMEZONE=Europe/Berlin\nPORT=8123\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.delenv("ABACUS_TIMEZONE", raising=False)
    monkeypatch.setenv("ABACUS_ENV", "test")
    settings = Settings.load({"ABACUS_INSTANCE_PATH": str(tmp_path)})
    assert (settings.timezone, settings.port) == ("Europe/Berlin", 9000)
    assert Settings.load({"ABACUS_INSTANCE_PATH": str(tmp_path)},
                         read_dotenv=False).timezone == "UTC"
