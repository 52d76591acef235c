"""The deployment files say what the docs promise: compose services and their order, the
image's roles, and an .env.example that documents every variable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from abacus.config import FIELDS, env_example

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_is_current_and_documents_every_deployment_variable():
    text = (ROOT / ".env.example").read_text()
    # Regenerate with: python -m abacus.config --env-example > .env.example
    assert text.strip() == env_example().strip()
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_DOMAINS",
                 "GOOGLE_CLIENT_ID", "OIDC_DISCOVERY_URL", "ANTHROPIC_ADMIN_KEYS",
                 "CURSOR_ADMIN_KEYS", "ABACUS_ENCRYPTION_KEY", "METRICS_TOKEN", "CRON_SECRET"):
        assert f"{name}=" in text, name
    assert {f.name for f in FIELDS} - {"TEST_DATABASE_URL", "TEST_REDIS_URL", "HOST", "PORT",
                                        "ABACUS_DEV_LOGIN", "ABACUS_INSTANCE_PATH"} <= {
        line.lstrip("# ").split("=")[0] for line in text.splitlines() if "=" in line}


def test_compose_runs_migrations_first_and_scales_workers():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "scheduler"}
    for data in ("postgres", "redis"):
        assert services[data]["healthcheck"]["test"]
        assert any(":/" in v for v in services[data]["volumes"])  # data on a named volume
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}
    assert services["migrate"]["command"] == ["migrate"]
    for role in ("web", "worker", "scheduler"):
        s = services[role]
        assert s["command"] == [role]
        assert s["env_file"] == ".env"  # configuration from .env, never in the image
        deps = s["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert "replicas" not in services["worker"].get("deploy", {})  # --scale worker=N
    assert "SECRET_KEY:" not in (ROOT / "compose.yaml").read_text()  # no secret in the file


def test_containerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = (ROOT / "Containerfile").read_text()
    assert text.count("\nFROM ") == 2 and "ARG BASE_IMAGE=" in text
    assert "USER abacus" in text and "HEALTHCHECK" in text and "/healthz" in text
    assert "[server,sentry]" in text and "embedded" not in text.split("ARG BASE_IMAGE")[1] \
        .replace("never the embedded engines", "")
    assert "SECRET_KEY" not in text


def test_entrypoint_roles(tmp_path):
    """Run the real entrypoint with stub programs that print how they were called."""
    for program in ("gunicorn", "flask", "python3"):
        stub = tmp_path / program
        stub.write_text(f'#!/bin/sh\necho "{program} $*"\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "PORT": "9000",
           "WEB_WORKERS": "3", "WEB_THREADS": "5"}
    script = str(ROOT / "scripts" / "container-entrypoint.sh")

    def run(*args: str) -> str:
        return subprocess.run(["sh", script, *args], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    # No control socket: gunicorn would create it under $HOME (/app), which the image's user
    # may not write to.
    assert run("web") == ("gunicorn --bind 0.0.0.0:9000 --workers 3 --threads 5 "
                          "--no-control-socket --access-logfile - --error-logfile - wsgi:app")
    assert run() == run("web")
    assert run("worker") == "python3 /app/worker.py worker"
    assert run("scheduler") == "python3 /app/worker.py scheduler"
    assert run("migrate") == "flask db upgrade"
    assert run("flask", "abacus", "status", "--json") == "flask abacus status --json"


def test_web_role_serves_with_gunicorn(app, app_env, tmp_path):
    """The image's web command for real (gunicorn, wsgi:app) against the test database."""
    import socket
    import sys
    import time

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **app_env, "PATH": f"{bin_dir}:/usr/bin:/bin", "PORT": str(port),
           "WEB_WORKERS": "1", "WEB_THREADS": "2"}
    proc = subprocess.Popen(["sh", str(ROOT / "scripts" / "container-entrypoint.sh"), "web"],
                            cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=20)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert health.json() == {"db": "ok", "redis": "ok"}
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["migrations"] == "ok"
    finally:
        proc.terminate()
        proc.wait(10)
