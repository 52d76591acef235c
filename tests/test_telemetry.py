"""Telemetry intake end to end: the real OpenTelemetry Python SDK and its OTLP/HTTP exporters
post to the receiver served by a real HTTP server on 127.0.0.1; an RQ worker (SimpleWorker,
real Redis) writes the batches through ingest; pages, `stats --json` and the rollups are
read back. Data is shaped like Claude Code's export (providers/otel-claude-code.md).

The SDK ships no OTLP JSON exporter in the pinned packages (opentelemetry-exporter-otlp-proto-
http speaks protobuf only), so JSON requests are the SDK's own encoded protobuf messages
(`encode_metrics` / `encode_logs`, what its exporter sends) turned into the OTLP JSON
mapping with `google.protobuf.json_format`, and posted over HTTP.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
)
from opentelemetry.sdk.resources import Resource
from rq import SimpleWorker
from sqlalchemy import text
from werkzeug.serving import make_server

from abacus.extensions import db, queue, redis_connection
from abacus.people.tokens import create_token, revoke_token
from abacus.providers.base import UsageRecord
from abacus.telemetry.queue import BATCHES, FAILED
from abacus.usage.exclusions import counted_events
from abacus.usage.ingest import rebuild_rollups
from tests.helpers import csrf_token, invoke, seed, sign_in
from tests.test_web import text_of

CUMULATIVE, DELTA = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA
MODEL = "claude-sonnet-4-6"


# --- a live server, tokens, the worker --------------------------------------------------------

@pytest.fixture
def server(ctx) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, ctx, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(5)


def new_token(name: str = "rollout", email: str | None = None) -> str:
    _row, plain = create_token("ingest", name, email=email, created_by="test")
    db.session.commit()
    return plain


@pytest.fixture
def token(ctx) -> str:
    return new_token()


def work(app) -> int:
    """Run the queued jobs (the telemetry drain) in this process; how many batches waited."""
    q = queue()
    waiting = redis_connection().llen(BATCHES)
    SimpleWorker([q], connection=redis_connection()).work(burst=True)
    db.session.remove()
    assert q.failed_job_registry.count == 0, "a telemetry job failed"
    assert redis_connection().llen(FAILED) == 0, "a telemetry batch could not be written"
    assert redis_connection().llen(BATCHES) == 0
    return waiting


# --- Claude Code shaped data through the SDK ----------------------------------------------

class ClaudeProcess:
    """One Claude Code process: its MeterProvider (one start time), counters and reader."""

    def __init__(self, email: str | None, temporality=CUMULATIVE, session: str | None = None,
                 account_id: str = "user_01TEST"):
        self.reader = InMemoryMetricReader(preferred_temporality={Counter: temporality})
        resource = Resource.create({"service.name": "claude-code", "service.version": "2.1.289",
                                    "os.type": "linux", "host.arch": "amd64"})
        self.provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        meter = self.provider.get_meter("com.anthropic.claude_code", "2.1.289")
        self.tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
        self.cost = meter.create_counter("claude_code.cost.usage", unit="USD")
        self.lines = meter.create_counter("claude_code.lines_of_code.count", unit="count")
        self.sessions = meter.create_counter("claude_code.session.count", unit="count")
        self.commits = meter.create_counter("claude_code.commit.count", unit="count")
        self.attrs = {"session.id": session or str(uuid.uuid4()), "user.account_id": account_id,
                      "organization.id": "dc9f6c26-b22c-4831-8d01-0446bada88f1",
                      "user.id": "install-" + (email or "anon"), "terminal.type": "vscode"}
        if email:
            self.attrs["user.email"] = email

    def request(self, model: str = MODEL, inp: int = 0, out: int = 0, cache_read: int = 0,
                cache_write: int = 0, cost: float = 0.0) -> None:
        base = {**self.attrs, "model": model, "query_source": "main"}
        for kind, n in (("input", inp), ("output", out), ("cacheRead", cache_read),
                        ("cacheCreation", cache_write)):
            if n:
                self.tokens.add(float(n), {**base, "type": kind})
        if cost:
            self.cost.add(cost, base)

    def collect(self):
        return self.reader.get_metrics_data()


def exporter(base: str, token: str, **kw) -> OTLPMetricExporter:
    return OTLPMetricExporter(endpoint=f"{base}/otlp/v1/metrics",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10, **kw)


def post_json(base: str, signal: str, message, token: str, gz: bool = False
              ) -> requests.Response:
    body = json_format.MessageToJson(message).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if gz:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    return requests.post(f"{base}/otlp/v1/{signal}", data=body, headers=headers, timeout=10)


# --- reading back ------------------------------------------------------------------------------

def person_totals(person: str, tool: str = "claude_code") -> tuple[int, int, int, int, Decimal]:
    """(input, output, cache write, cache read, cost) the rollups count for a person."""
    row = db.session.execute(text("""
        SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
               coalesce(sum(cache_write_tokens), 0), coalesce(sum(cache_read_tokens), 0),
               coalesce(sum(cost_usd), 0)
        FROM usage_person_daily WHERE person = :p AND tool = :t"""),
        {"p": person, "t": tool}).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), Decimal(row[4])


def extras_sum(person: str, key: str) -> int:
    return int(db.session.execute(text(
        "SELECT coalesce(sum((extras->>:k)::bigint), 0) FROM usage_events "
        "WHERE coalesce(email, actor) = :p AND extras ? :k"), {"k": key, "p": person}).scalar())


def rollups_match_counted_events() -> list:
    """Rows where usage_daily / usage_person_daily differ from the aggregate over the events
    the pages count (precedence and exclusions applied)."""
    counted = counted_events().text
    sums = """count(*) AS events, sum(input_tokens) i, sum(output_tokens) o,
              sum(cache_write_tokens) cw, sum(cache_read_tokens) cr,
              COALESCE(sum(cost_usd), 0) AS cost"""
    roll = """events, input_tokens i, output_tokens o, cache_write_tokens cw,
              cache_read_tokens cr, cost_usd cost"""
    out = []
    for agg, rol in (
            (f"SELECT day, account_id, tool, actor, email, model, {sums} FROM usage_events "
             f"WHERE {counted} GROUP BY 1, 2, 3, 4, 5, 6",
             f"SELECT day, account_id, tool, actor, email, model, {roll} FROM usage_daily"),
            (f"SELECT day, account_id, tool, coalesce(email, actor), {sums} FROM usage_events "
             f"WHERE {counted} GROUP BY 1, 2, 3, 4",
             f"SELECT day, account_id, tool, person, {roll} FROM usage_person_daily")):
        out += db.session.execute(text(f"""
            WITH agg AS ({agg}), roll AS ({rol})
            (SELECT * FROM agg EXCEPT ALL SELECT * FROM roll)
            UNION ALL (SELECT * FROM roll EXCEPT ALL SELECT * FROM agg)""")).all()
    return out


def stats_tools(runner) -> dict:
    result = invoke(runner, "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["tools"]


# --- the tests ---------------------------------------------------------------------------------

def test_cumulative_metrics_exact_totals_through_restart_and_resend(ctx, server, token,
                                                                    runner):
    ann = "ann@example.com"
    proto = exporter(server, token)
    zipped = exporter(server, token, compression=Compression.Gzip)

    first = ClaudeProcess(ann)
    first.request(inp=1000, out=200, cache_read=5000, cache_write=700, cost=0.25)
    first.lines.add(40.0, {**first.attrs, "type": "added"})
    first.sessions.add(1.0, {**first.attrs, "start_type": "fresh"})
    batch1 = first.collect()
    assert proto.export(batch1) == MetricExportResult.SUCCESS
    first.request(inp=500, out=100, cost=0.12)
    first.lines.add(10.0, {**first.attrs, "type": "added"})
    first.commits.add(1.0, first.attrs)
    batch2 = first.collect()
    assert zipped.export(batch2) == MetricExportResult.SUCCESS  # gzip
    # Network trouble: the exporter sends both batches again, in reverse order.
    assert proto.export(batch2) == MetricExportResult.SUCCESS
    assert proto.export(batch1) == MetricExportResult.SUCCESS
    assert work(ctx) == 4
    assert person_totals(ann) == (1500, 300, 700, 5000, Decimal("0.37"))

    # The process restarts (a new start time, counters from zero), then resends too.
    first.provider.shutdown()
    second = ClaudeProcess(ann, session=first.attrs["session.id"])
    second.request(inp=300, out=30, cost=0.05)
    second.lines.add(5.0, {**second.attrs, "type": "removed"})
    batch3 = second.collect()
    assert proto.export(batch3) == MetricExportResult.SUCCESS
    assert proto.export(batch3) == MetricExportResult.SUCCESS
    assert proto.export(batch2) == MetricExportResult.SUCCESS  # the old process, late
    work(ctx)
    assert person_totals(ann) == (1800, 330, 700, 5000, Decimal("0.42"))
    assert (extras_sum(ann, "lines_added"), extras_sum(ann, "lines_removed"),
            extras_sum(ann, "sessions"), extras_sum(ann, "commits")) == (50, 5, 1, 1)
    # A cumulative export that repeats unchanged series adds no rows.
    events = db.session.execute(text("SELECT count(*) FROM usage_events")).scalar()
    assert proto.export(second.collect()) == MetricExportResult.SUCCESS
    work(ctx)
    assert db.session.execute(text("SELECT count(*) FROM usage_events")).scalar() == events
    assert rollups_match_counted_events() == []

    claude = stats_tools(runner)["claude_code"]
    assert (claude["input_tokens"], claude["output_tokens"], claude["cache_write_tokens"],
            claude["cache_read_tokens"]) == (1800, 330, 700, 5000)
    assert Decimal(str(claude["cost_usd"])) == Decimal("0.42")


def test_delta_metrics_as_json_and_protobuf_resent_change_nothing(ctx, server, token):
    bob = "bob@example.com"
    proc = ClaudeProcess(bob, temporality=DELTA)
    proc.request(inp=100, out=50, cost=0.01)
    d1 = proc.collect()
    proc.request(inp=200, out=60, cache_read=1000, cost=0.02)
    d2 = proc.collect()
    json1 = encode_metrics(d1)
    for _ in range(2):  # sent twice
        response = post_json(server, "metrics", json1, token)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == {}
    assert post_json(server, "metrics", encode_metrics(d2), token, gz=True).status_code == 200
    assert exporter(server, token).export(d2) == MetricExportResult.SUCCESS  # protobuf, again
    work(ctx)
    assert person_totals(bob) == (300, 110, 0, 1000, Decimal("0.03"))
    assert rollups_match_counted_events() == []


def _emit_requests(logger, email: str, requests_: list[dict]) -> None:
    for r in requests_:
        name = "claude_code." + r.get("event.name", "api_request")
        logger.emit(body=name, event_name=name,
                    timestamp=int(datetime.now(UTC).timestamp() * 1e9),
                    attributes={"event.name": "api_request", "user.email": email,
                                "session.id": "s-1", "model": MODEL,
                                "event.timestamp": datetime.now(UTC).isoformat(), **r})


def test_api_request_events_count_once_beside_metrics(ctx, server, token):
    cat = "cat@example.com"
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=f"{server}/otlp/v1/logs", headers={"Authorization": f"Bearer {token}"},
        timeout=10)))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("com.anthropic.claude_code")
    # Attribute values are strings, as Claude Code sends them.
    _emit_requests(logger, cat, [
        {"request_id": "req_1", "input_tokens": "1200", "output_tokens": "300",
         "cache_read_tokens": "9000", "cache_creation_tokens": "400", "cost_usd": "0.0421",
         "duration_ms": "2100"},
        {"request_id": "req_2", "input_tokens": "800", "output_tokens": "100",
         "cache_read_tokens": "0", "cache_creation_tokens": "0", "cost_usd": "0.0109"},
        {"event.name": "user_prompt", "prompt_length": "12"},  # not usage: ignored
    ])
    # The same requests as metrics (Claude Code exports both): counted once.
    proc = ClaudeProcess(cat)
    proc.request(inp=2000, out=400, cache_read=9000, cache_write=400, cost=0.053)
    assert exporter(server, token).export(proc.collect()) == MetricExportResult.SUCCESS
    # The events re-sent as JSON (what a retry after a lost response does).
    finished = [r for r in memory.get_finished_logs()]
    assert post_json(server, "logs", encode_logs(finished), token).status_code == 200
    work(ctx)
    assert person_totals(cat) == (2000, 400, 400, 9000, Decimal("0.053"))
    kinds = dict(db.session.execute(text(
        "SELECT kind, count(*) FROM usage_events GROUP BY kind")).all())
    assert kinds["otel_request"] == 2
    assert rollups_match_counted_events() == []


def test_codex_and_copilot_metrics_map_to_their_tools(ctx, server, runner):
    codex_token = new_token("codex-rollout", email="dev@example.com")
    reader = InMemoryMetricReader(preferred_temporality={Histogram: DELTA})
    provider = MeterProvider(resource=Resource.create({"service.name": "codex_cli_rs"}),
                             metric_readers=[reader])
    usage = provider.get_meter("codex").create_histogram("codex.turn.token_usage")
    for kind, n in (("input_tokens", 1500), ("cached_input_tokens", 1000),
                    ("non_cached_input_tokens", 500), ("output_tokens", 70),
                    ("total_tokens", 1570)):
        usage.record(n, {"token_type": kind, "model": "gpt-5-codex", "originator": "codex_cli"})
    assert exporter(server, codex_token).export(reader.get_metrics_data()) == \
        MetricExportResult.SUCCESS

    copilot_token = new_token("copilot-rollout")
    reader = InMemoryMetricReader(preferred_temporality={Histogram: CUMULATIVE})
    provider = MeterProvider(resource=Resource.create({"service.name": "copilot-chat"}),
                             metric_readers=[reader])
    usage = provider.get_meter("copilot-chat").create_histogram("gen_ai.client.token.usage")
    for kind, n in (("input", 900), ("output", 120)):
        usage.record(n, {"gen_ai.token.type": kind, "gen_ai.request.model": "gpt-4.1",
                         "user.email": "Eve@Example.com"})
    assert exporter(server, copilot_token).export(reader.get_metrics_data()) == \
        MetricExportResult.SUCCESS
    work(ctx)
    # Codex metrics name nobody: the token's owner. Input = non-cached; cached = cache read.
    assert person_totals("dev@example.com", "codex")[:4] == (500, 70, 0, 1000)
    assert person_totals("eve@example.com", "copilot")[:4] == (900, 120, 0, 0)
    tools = stats_tools(runner)
    assert tools["codex"]["input_tokens"] == 500 and tools["copilot"]["output_tokens"] == 120
    # No money in either: estimated from the price table (or flagged unpriced).
    sources = {r for r, in db.session.execute(text(
        "SELECT DISTINCT cost_source FROM usage_events WHERE tool = 'codex'"))}
    assert sources <= {"estimated", "unpriced"}


def test_tokens_are_required_and_checked(ctx, server, client, token):
    proc = ClaudeProcess("x@example.com")
    proc.request(inp=10, cost=0.01)
    data = proc.collect()
    url = f"{server}/otlp/v1/metrics"
    body = encode_metrics(data).SerializeToString()
    proto = {"Content-Type": "application/x-protobuf"}

    missing = requests.post(url, data=body, headers=proto, timeout=10)
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    status = status_pb2.Status()
    status.ParseFromString(missing.content)  # a google.rpc.Status in the request's encoding
    assert "ingest token" in status.message
    assert exporter(server, "abk_ing_wrong").export(data) == MetricExportResult.FAILURE
    wrong = requests.post(url, data=body, timeout=10,
                          headers={**proto, "Authorization": "Bearer abk_ing_nope"})
    assert wrong.status_code == 401
    _row, api_plain = create_token("api", "reader", role="admin")
    db.session.commit()
    as_api = requests.post(url, data=body, timeout=10,
                           headers={**proto, "Authorization": f"Bearer {api_plain}"})
    assert as_api.status_code == 403
    revoke_token("ingest", "rollout")
    db.session.commit()
    revoked = requests.post(url, data=body, timeout=10,
                            headers={**proto, "Authorization": f"Bearer {token}"})
    assert revoked.status_code == 403 and token not in revoked.text
    # A signed-in admin's session cookie is no credential here.
    sign_in(client, "admin@example.com")
    assert client.post("/otlp/v1/metrics", data=body, headers=proto).status_code == 401
    assert redis_connection().llen(BATCHES) == 0


def test_bad_bodies_get_the_otlp_status_codes(ctx, server, token, configure):
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{server}/otlp/v1/metrics"

    def post(body: bytes, **headers: str) -> requests.Response:
        return requests.post(url, data=body, headers={**auth, **headers}, timeout=10)

    garbage = post(b"\xff\x00not protobuf", **{"Content-Type": "application/x-protobuf"})
    assert garbage.status_code == 400
    status = status_pb2.Status()
    status.ParseFromString(garbage.content)
    assert "not a valid OTLP protobuf" in status.message
    bad_json = post(b'{"resourceMetrics": 7}', **{"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and "not a valid OTLP JSON" in bad_json.json()["message"]
    assert post(b"{}", **{"Content-Type": "text/plain"}).status_code == 415
    not_gzip = post(b"plain", **{"Content-Type": "application/json",
                                 "Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400
    assert post(b"{}", **{"Content-Type": "application/json"}).status_code == 200  # empty: ok

    configure(otlp_max_body_mb=1)
    big = post(b"\0" * (1024 * 1024 + 10), **{"Content-Type": "application/x-protobuf"})
    assert big.status_code == 413
    bomb = gzip.compress(b" " * (3 * 1024 * 1024))  # small on the wire, 3 MB inflated
    assert len(bomb) < 1024 * 1024
    assert post(bomb, **{"Content-Type": "application/json",
                         "Content-Encoding": "gzip"}).status_code == 413
    assert redis_connection().llen(BATCHES) == 0


def test_rejected_points_are_a_partial_success(ctx, server, token):
    message = {"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [
        {"name": "claude_code.cost.usage", "gauge": {"dataPoints": [
            {"timeUnixNano": "1759650060000000000", "asDouble": 1.5}]}},
        {"name": "claude_code.token.usage", "sum": {"aggregationTemporality": 1,
                                                    "isMonotonic": True, "dataPoints": [
            {"startTimeUnixNano": "1759650000000000000", "timeUnixNano": "1759650060000000000",
             "asDouble": 42, "attributes": [
                 {"key": "user.email", "value": {"stringValue": "fay@example.com"}},
                 {"key": "type", "value": {"stringValue": "output"}},
                 {"key": "model", "value": {"stringValue": MODEL}}]}]}},
        {"name": "some.other.metric", "sum": {"aggregationTemporality": 1, "dataPoints": [
            {"timeUnixNano": "1759650060000000000", "asInt": "3"}]}}]}]}]}
    response = requests.post(f"{server}/otlp/v1/metrics", json=message, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "1" and "gauge" in partial["errorMessage"]
    work(ctx)
    assert person_totals("fay@example.com")[1] == 42


def test_a_full_queue_answers_429_with_retry_after(ctx, server, token, configure):
    configure(otlp_max_queued=1)
    proc = ClaudeProcess("gus@example.com", temporality=DELTA)
    proc.request(inp=10, cost=0.01)
    first = encode_metrics(proc.collect())
    assert post_json(server, "metrics", first, token).status_code == 200
    full = post_json(server, "metrics", first, token)
    assert full.status_code == 429 and full.headers["Retry-After"].isdigit()
    work(ctx)  # the worker drains the queue: accepted again
    assert post_json(server, "metrics", first, token).status_code == 200


def _api_day(email: str, day, inp: int, cost: str) -> UsageRecord:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return UsageRecord(event_key=f"{day}|{email}|{MODEL}", occurred_at=at, tool="claude_code",
                       actor=email, email=email, raw_model=MODEL, input_tokens=inp,
                       cost_usd=Decimal(cost))


def test_billed_source_wins_per_person_day_and_telemetry_fills_the_rest(ctx, server, token,
                                                                        client):
    dana, erin = "dana@example.com", "erin@example.com"
    for person, n in ((dana, 1000), (erin, 2000)):
        proc = ClaudeProcess(person)
        proc.request(inp=n, cost=n / 10000)
        assert exporter(server, token).export(proc.collect()) == MetricExportResult.SUCCESS
    work(ctx)
    assert person_totals(dana)[0] == 1000 and person_totals(erin)[0] == 2000
    today = db.session.execute(text("SELECT max(day) FROM usage_events")).scalar()

    # The Admin API reports Dana's day later: her telemetry no longer counts.
    seed(ctx, [_api_day(dana, today, 1100, "0.30")], name="anthropic", provider="anthropic")
    assert person_totals(dana) == (1100, 0, 0, 0, Decimal("0.30"))
    assert person_totals(erin)[0] == 2000  # the API does not report Erin: telemetry fills
    assert rollups_match_counted_events() == []

    # More telemetry of Dana's day arrives after the API: still superseded.
    proc = ClaudeProcess(dana)
    proc.request(inp=50, cost=0.005)
    assert exporter(server, token).export(proc.collect()) == MetricExportResult.SUCCESS
    work(ctx)
    assert person_totals(dana) == (1100, 0, 0, 0, Decimal("0.30"))
    assert rollups_match_counted_events() == []
    rebuild_rollups()  # a full rebuild lands on the same numbers
    assert person_totals(dana) == (1100, 0, 0, 0, Decimal("0.30"))
    assert rollups_match_counted_events() == []

    # Status compares the two per day.
    sign_in(client, "admin@example.com")
    page = text_of(client.get("/status"))
    assert "Telemetry and billed sources" in page
    assert "rollout" in page  # the token, with its last delivery
    from abacus.telemetry.status import comparison
    row = comparison(today, today)[0]
    assert (row.tool, row.telemetry_people, row.billed_people, row.both,
            row.telemetry_only) == ("claude_code", 2, 1, 1, 1)
    assert (row.telemetry_tokens, row.billed_tokens) == (3050, 1100)


def test_a_person_only_in_telemetry_appears_on_every_page(ctx, server, token, client, runner):
    hal = "hal.telemetry@example.com"
    proc = ClaudeProcess(hal)
    proc.request(inp=4321, out=1234, cost=0.75)
    assert exporter(server, token).export(proc.collect()) == MetricExportResult.SUCCESS
    work(ctx)
    sign_in(client, "admin@example.com")
    pages = {}
    for path in ("/", "/team", "/usage", f"/users/{hal}"):
        response = client.get(path)
        assert response.status_code == 200, path
        pages[path] = text_of(response)
        assert "$0.75" in pages[path], path
    assert hal in pages["/"] and hal in pages["/team"] and hal in pages[f"/users/{hal}"]
    assert "5,555" in pages["/usage"] and "Active people 1" in pages["/usage"]
    assert "5,555" in pages[f"/users/{hal}"]
    # The telemetry account is listed like any other (no credentials, never synced).
    accounts = client.get("/admin/accounts")
    assert accounts.status_code == 200 and "otel-claude_code" in text_of(accounts)
    assert "otel-claude_code" not in invoke(runner, "sync").output
    assert stats_tools(runner)["claude_code"]["input_tokens"] == 4321


def test_ingest_tokens_cli_add_list_revoke(ctx, server, runner):
    added = invoke(runner, "ingest-tokens", "add", "laptops", "--email", "ops@example.com")
    assert added.exit_code == 0, added.output
    plain = added.stdout.strip().splitlines()[0]
    assert plain.startswith("abk_ing_")
    again = invoke(runner, "ingest-tokens", "add", "laptops")
    assert again.exit_code != 0 and "already exists" in again.output
    proc = ClaudeProcess("ivy@example.com")
    proc.request(inp=10, cost=0.01)
    assert exporter(server, plain).export(proc.collect()) == MetricExportResult.SUCCESS
    work(ctx)
    listing = invoke(runner, "ingest-tokens", "list")
    assert "laptops" in listing.output and "live" in listing.output
    assert plain not in listing.output
    assert invoke(runner, "ingest-tokens", "revoke", "laptops").exit_code == 0
    refused = requests.post(f"{server}/otlp/v1/metrics", timeout=10,
                            data=encode_metrics(proc.collect()).SerializeToString(),
                            headers={"Content-Type": "application/x-protobuf",
                                     "Authorization": f"Bearer {plain}"})
    assert refused.status_code == 403
    assert invoke(runner, "ingest-tokens", "revoke", "nobody").exit_code != 0


def test_admin_creates_and_revokes_ingest_tokens(app, client):
    # No app context held open here: it would keep one CSRF token across requests.
    sign_in(client, "admin@example.com")
    page = client.get("/admin/ingest-tokens")
    assert page.status_code == 200
    created = client.post("/admin/ingest-tokens", data={
        "name": "team-a", "email": "", "csrf_token": csrf_token(page.get_data(as_text=True))})
    body = created.get_data(as_text=True)
    assert created.status_code == 200, text_of(created)
    assert "abk_ing_" in body
    plain = body[body.index("abk_ing_"):].split("<")[0].split('"')[0].strip()
    again = client.get("/admin/ingest-tokens").get_data(as_text=True)
    assert "team-a" in again and plain not in again  # shown once
    revoked = client.post("/admin/ingest-tokens/revoke", data={
        "name": "team-a", "csrf_token": csrf_token(again)})
    assert revoked.status_code in (200, 303)
    assert "revoked" in text_of(client.get("/admin/ingest-tokens"))
    # Members may not.
    member = app.test_client()
    sign_in(member, "mia@example.com")
    assert member.get("/admin/ingest-tokens").status_code == 403


def test_redis_down_answers_503_with_retry_after(make_app):
    down = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    with down.app_context():
        token = new_token("outage")
    proc = ClaudeProcess("kim@example.com", temporality=DELTA)
    proc.request(inp=10, cost=0.01)
    response = down.test_client().post(
        "/otlp/v1/metrics", data=encode_metrics(proc.collect()).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and response.headers["Retry-After"].isdigit()


def test_a_batch_that_cannot_be_written_is_set_aside(ctx, server, token):
    from abacus.telemetry.queue import push

    good = ClaudeProcess("lea@example.com", temporality=DELTA)
    good.request(inp=70, cost=0.07)
    assert exporter(server, token).export(good.collect()) == MetricExportResult.SUCCESS
    # A batch no receiver would produce (a point without its fields) waits in the queue too.
    push({"token_id": None, "token_name": "x", "received_at": datetime.now(UTC).isoformat(),
          "points": [{"tool": "claude_code"}], "events": []}, 100, lambda: None)
    later = ClaudeProcess("lea@example.com", temporality=DELTA)
    later.request(out=5, cost=0.01)
    assert exporter(server, token).export(later.collect()) == MetricExportResult.SUCCESS
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
    db.session.remove()
    assert redis_connection().llen(FAILED) == 1 and redis_connection().llen(BATCHES) == 0
    assert person_totals("lea@example.com") == (70, 5, 0, 0, Decimal("0.08"))


def test_json_logs_with_hex_trace_ids_are_read(ctx, server, token):
    event = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code"}, "logRecords": [{
            "timeUnixNano": str(int(datetime.now(UTC).timestamp() * 1e9)),
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "body": {"stringValue": "claude_code.api_request"},
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in (
                ("event.name", "api_request"), ("user.email", "max@example.com"),
                ("model", MODEL), ("request_id", "req_hex"), ("input_tokens", "11"),
                ("output_tokens", "7"), ("cost_usd", "0.0012"))]}]}]}]}
    response = requests.post(f"{server}/otlp/v1/logs", json=event, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {}
    work(ctx)
    assert person_totals("max@example.com") == (11, 7, 0, 0, Decimal("0.0012"))
