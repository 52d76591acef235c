"""Operator endpoints and production settings: readiness, metrics, cron triggers, proxies,
JSON logs, Sentry."""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from abacus.extensions import db
from abacus.models import Account, SyncRun
from abacus.observability import JsonFormatter
from abacus.providers.testing import FakeServer, Reply
from tests.test_web import record, seed

ROOT = Path(__file__).resolve().parent.parent


def test_readyz_reports_db_redis_and_migrations(client):
    response = client.get("/readyz")  # no sign-in: orchestrators call it
    assert response.status_code == 200
    assert response.get_json() == {"db": "ok", "redis": "ok", "migrations": "ok"}


@pytest.fixture
def old_schema_url(database_url):
    """A database migrated only to 0002: what an upgrade looks like before `migrate` runs."""
    name = f"abacus_old_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(make_url(database_url).set(database="postgres")
                             .render_as_string(hide_password=False))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_readyz_is_503_until_migrations_reach_head(make_app, old_schema_url):
    from flask_migrate import upgrade

    app = make_app(DATABASE_URL=old_schema_url)
    with app.app_context():
        upgrade(revision="0002")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    head = sorted(p.name[:4] for p in (ROOT / "migrations" / "versions").glob("0*.py"))[-1]
    assert body["db"] == "ok" and body["migrations"].startswith(f"at 0002, expected {head}")
    assert old_schema_url not in response.get_data(as_text=True)


def test_metrics_need_their_token(make_app, app):
    assert app.test_client().get("/metrics").status_code == 404  # off without a token
    on = make_app(METRICS_TOKEN="m-secret").test_client()
    assert on.get("/metrics").status_code == 401
    assert on.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_report_events_runs_freshness_and_queue(make_app, app):
    seed(app, [record("a", 1, cost=Decimal("1")), record("b", 2, cost=Decimal("1"))])
    with app.app_context():
        account = Account(provider="anthropic", name="acme", status="active",
                          last_success_at=datetime.now(UTC) - timedelta(minutes=10))
        db.session.add(account)
        db.session.flush()
        db.session.add_all([SyncRun(kind="sync", account_id=account.id, status="success"),
                            SyncRun(kind="sync", account_id=account.id, status="failed")])
        db.session.commit()
    client = make_app(METRICS_TOKEN="m-secret").test_client()
    response = client.get("/metrics", headers={"Authorization": "Bearer m-secret"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'abacus_usage_events_total{tool="cursor"} 2.0' in text
    assert 'abacus_sync_runs_total{kind="sync",status="failed"} 1.0' in text
    line = next(x for x in text.splitlines()
                if x.startswith('abacus_account_seconds_since_last_success{account="acme"'))
    assert 590 < float(line.rsplit(" ", 1)[1]) < 700
    assert 'abacus_queue_depth{queue="default"} 0.0' in text


def test_cron_endpoint_enqueues_syncs_with_a_bearer_token(make_app, app):
    from abacus.extensions import queue
    from abacus.sync.accounts import add_account

    assert app.test_client().post("/cron/sync/cursor").status_code == 404  # off
    client = make_app(CRON_SECRET="c-secret").test_client()
    with app.app_context():
        add_account("cursor", "team", {"api_key": "key_" + "0" * 64},
                    {"base_url": "http://127.0.0.1:9"})
        db.session.commit()
    assert client.post("/cron/sync/cursor").status_code == 401
    assert client.post("/cron/sync/cursor",
                       headers={"Authorization": "Bearer c-secre"}).status_code == 401
    ok = client.post("/cron/sync/cursor", headers={"Authorization": "Bearer c-secret"})
    assert ok.status_code == 202 and ok.get_json() == {"queued": ["team"]}
    with app.app_context():
        assert queue().count == 1
    unknown = client.post("/cron/sync/nope", headers={"Authorization": "Bearer c-secret"})
    assert unknown.status_code == 404
    assert client.get("/cron/sync/cursor",
                      headers={"Authorization": "Bearer c-secret"}).status_code == 405


def test_forwarded_headers_are_trusted_only_with_a_proxy_count(make_app, client):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abacus.example.com"}
    direct = client.get("/healthz", headers=headers)
    assert "Strict-Transport-Security" not in direct.headers
    proxied = make_app(ABACUS_PROXY_COUNT="1").test_client().get("/healthz", headers=headers)
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=")


def test_json_log_lines():
    record_ = logging.makeLogRecord({"name": "abacus.sync", "levelname": "WARNING",
                                     "msg": "acme %s failed", "args": ("sync",),
                                     "account": "acme"})
    entry = json.loads(JsonFormatter().format(record_))
    assert entry["message"] == "acme sync failed" and entry["level"] == "WARNING"
    assert entry["logger"] == "abacus.sync" and entry["account"] == "acme"
    assert entry["time"].endswith("+00:00")


class FakeSentry(FakeServer):
    def __init__(self):
        super().__init__()
        self.route("POST", "/api/1/envelope/", lambda req: Reply(200, {}))


def test_sentry_receives_events_when_a_dsn_is_set(make_app):
    import sentry_sdk

    with FakeSentry() as fake:
        dsn = fake.url.replace("http://", "http://publickey@") + "/1"
        make_app(SENTRY_DSN=dsn)
        try:
            sentry_sdk.capture_message("abacus test event")
            sentry_sdk.flush(timeout=5)
        finally:
            sentry_sdk.init(dsn=None)  # later tests run without Sentry
        assert fake.requests_to("/api/1/envelope/")
        body = fake.requests_to("/api/1/envelope/")[0].body
        assert b"abacus test event" in (gzip.decompress(body) if body[:2] == b"\x1f\x8b"
                                        else body)
