"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from abacus.extensions import db


def test_migrated_database_matches_models(ctx):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_schema_has_every_table_with_exact_types(ctx):
    insp = inspect(db.engine)
    tables = set(insp.get_table_names())
    assert {"accounts", "usage_events", "change_log", "usage_daily", "identity_mappings",
            "sync_state", "sync_runs", "users", "model_prices"} <= tables
    cols = {c["name"]: c for c in insp.get_columns("usage_events")}
    assert str(cols["cost_usd"]["type"]).startswith("NUMERIC")
    assert str(cols["input_tokens"]["type"]) == "BIGINT"
    assert cols["occurred_at"]["type"].timezone is True
    uniques = insp.get_unique_constraints("usage_events")
    assert any(u["column_names"] == ["account_id", "event_key"] for u in uniques)


def test_healthz_reports_both_parts(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"db": "ok", "redis": "ok"}


def test_healthz_stays_healthy_when_only_redis_is_down(app_env):
    """Pages serve without Redis: the container must not be restarted for it, but /readyz
    (everything up) says what is missing."""
    from abacus import create_app

    broken = create_app({**app_env, "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
    resp = broken.test_client().get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["db"] == "ok" and body["redis"].startswith("error")
    assert "127.0.0.1:1" not in body["redis"]  # no connection details leak
    ready = broken.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["redis"].startswith("error")


def test_healthz_is_503_when_the_database_is_down(app_env):
    from abacus import create_app

    broken = create_app({**app_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
                        dotenv=False)
    resp = broken.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["db"].startswith("error")
