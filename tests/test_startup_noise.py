"""Start-up noise (issue 19): `flask …` and the worker print no third-party warnings (XDG
runtime folder, rq-scheduler's crontab notice, pkg_resources), and a bad setting or an
unreachable database is one line naming the variable, with a non-zero exit. Real subprocess
runs, as a user types them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], env: dict[str, str], tmp_path: Path, **extra: str):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ABACUS_", "DATABASE_URL", "REDIS_URL", "XDG_", "PYTHON"))}
    base.update({"ABACUS_INSTANCE_PATH": str(tmp_path), "PYTHONWARNINGS": "default", **env,
                 **extra})
    return subprocess.run(args, cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=120)


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def test_flask_help_prints_no_warnings(app_env, tmp_path):
    env = {k: app_env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    proc = run(flask("abacus", "--help"), env, tmp_path, ABACUS_ENV="development")
    assert proc.returncode == 0, proc.stderr
    assert "Abacus commands." in proc.stdout
    assert proc.stderr == ""


def test_embedded_engine_import_has_no_xdg_warning(tmp_path):
    # Without XDG_RUNTIME_DIR, pgserver (at import) makes platformdirs warn: not any more.
    code = ("import warnings; warnings.simplefilter('error');"
            "from abacus import embedded; embedded._runtime_dir(); import pgserver")
    proc = run([sys.executable, "-c", code], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    # The control: the same import without it does warn, so the check above can fail.
    proc = run([sys.executable, "-W", "error", "-c", "import pgserver"], {}, tmp_path)
    assert "XDG_RUNTIME_DIR" in proc.stderr


def test_scheduler_crontab_notice_is_silenced(tmp_path):
    code = ("from rq_scheduler.utils import get_next_scheduled_time;"
            "get_next_scheduled_time('0 * * * *')")
    noisy = run([sys.executable, "-W", "error", "-c", code], {}, tmp_path)
    assert noisy.returncode != 0 and "crontab" in noisy.stderr
    quiet = run([sys.executable, "-W", "error", "-c",
                 "from abacus.observability import quiet_known_warnings;"
                 "quiet_known_warnings();" + code], {}, tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""


@pytest.mark.parametrize("env, variable", [
    ({"ABACUS_TIMEZONE": "Mars/Base"}, "ABACUS_TIMEZONE"),
    ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
])
@pytest.mark.parametrize("command", [["abacus", "stats"], ["db", "upgrade"], ["--help"]])
def test_a_bad_setting_is_one_line_through_flask(tmp_path, env, variable, command):
    proc = run(flask(*command), env, tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"abacus: configuration error: {variable}:")


def test_a_bad_setting_is_one_line_through_make_run(tmp_path):
    proc = run([sys.executable, "-m", "abacus.devserver"], {"ABACUS_TIMEZONE": "Mars/Base"},
               tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "abacus: configuration error: ABACUS_TIMEZONE: 'Mars/Base' is not a known IANA time "
        "zone (e.g. UTC, Europe/Berlin)"]


@pytest.mark.parametrize("command", [["abacus", "stats"], ["db", "upgrade"]])
def test_an_unreachable_database_is_one_line_without_the_password(tmp_path, command):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(flask(*command), {"ABACUS_ENV": "development",
                                 "DATABASE_URL": f"postgresql://abacus:hunter2@127.0.0.1:"
                                                 f"{port}/abacus"}, tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"abacus: cannot reach the database at DATABASE_URL (127.0.0.1:{port}/abacus): is "
        "PostgreSQL running and the URL right?"]
    assert "hunter2" not in proc.stderr + proc.stdout
