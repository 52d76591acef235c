"""Telemetry intake throughput: OTLP data points per second, receiver + worker.

    python bench/otlp_bench.py [--people 50] [--rounds 40] [--temporality cumulative|delta]

Builds Claude Code shaped exports with the real OpenTelemetry SDK (per person: token usage by
type and model, cost, lines, sessions; one export per round, as a 60-second export interval
would), posts each as protobuf to `/otlp/v1/metrics` through the Flask test client on a fresh
migrated database (receiver: authenticate, decode, extract, enqueue on Redis), then drains
the queue with an RQ SimpleWorker (cumulative-to-delta, ingest, commit). Prints:

    receiver: 24000 points in 2000 requests, 3.1s (7700 points/s, p50 1.4 ms/request)
    worker:   24000 points in 2000 jobs, 9.8s (2400 points/s)
    sustained (receiver + worker, one process each): 1900 points/s

Uses DATABASE_URL's server, else TEST_DATABASE_URL's, else the embedded PostgreSQL, and
BENCH_REDIS_URL, else TEST_REDIS_URL, else the embedded Redis (the database is flushed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import scratch_database  # noqa: E402

MODELS = ("claude-sonnet-4-6", "claude-opus-4-5")


def exports(people: int, rounds: int, cumulative: bool) -> list[bytes]:
    """Serialized ExportMetricsServiceRequests, round by round, person by person."""
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
        encode_metrics,
    )
    from opentelemetry.sdk.metrics import Counter, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    temporality = (AggregationTemporality.CUMULATIVE if cumulative
                   else AggregationTemporality.DELTA)
    procs = []
    for i in range(people):
        reader = InMemoryMetricReader(preferred_temporality={Counter: temporality})
        provider = MeterProvider(resource=Resource.create({"service.name": "claude-code"}),
                                 metric_readers=[reader])
        meter = provider.get_meter("com.anthropic.claude_code")
        procs.append((reader, f"dev{i:03d}@example.com", {
            name: meter.create_counter(name) for name in (
                "claude_code.token.usage", "claude_code.cost.usage",
                "claude_code.lines_of_code.count", "claude_code.session.count")}))
    out = []
    for r in range(rounds):
        for n, (reader, email, c) in enumerate(procs):
            base = {"user.email": email, "session.id": f"s-{n}", "query_source": "main"}
            for model in MODELS:
                for kind, amount in (("input", 900), ("output", 300), ("cacheRead", 20000),
                                     ("cacheCreation", 1500)):
                    c["claude_code.token.usage"].add(float(amount + r + n),
                                                     {**base, "model": model, "type": kind})
                c["claude_code.cost.usage"].add(0.0123 + r / 1000, {**base, "model": model})
            c["claude_code.lines_of_code.count"].add(12.0, {**base, "type": "added"})
            if r == 0:
                c["claude_code.session.count"].add(1.0, base)
            out.append(encode_metrics(reader.get_metrics_data()).SerializeToString())
    return out


def count_points(body: bytes) -> int:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    msg = ExportMetricsServiceRequest.FromString(body)
    return sum(len(getattr(m, m.WhichOneof("data")).data_points)
               for rm in msg.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--temporality", choices=("cumulative", "delta"), default="cumulative")
    args = parser.parse_args()
    from flask_migrate import upgrade
    from rq import SimpleWorker

    from abacus import create_app

    print(f"building {args.people * args.rounds} exports with the OpenTelemetry SDK ...",
          flush=True)
    bodies = exports(args.people, args.rounds, args.temporality == "cumulative")
    points = sum(count_points(b) for b in bodies)
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL") or ""
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp)) as db_url:
        app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url,
                          "SECRET_KEY": "bench" * 4, "ABACUS_INSTANCE_PATH": f"{tmp}/instance",
                          "REDIS_URL": redis_url, "ABACUS_OTLP_MAX_QUEUED": "10000000"},
                         dotenv=False)
        with app.app_context():
            from abacus.extensions import db, queue, redis_connection
            from abacus.people.tokens import create_token

            upgrade()
            redis_connection().flushdb()
            _row, token = create_token("ingest", "bench")
            db.session.commit()
            headers = {"Content-Type": "application/x-protobuf",
                       "Authorization": f"Bearer {token}"}
            client = app.test_client()
            times = []
            started = time.perf_counter()
            for body in bodies:
                t0 = time.perf_counter()
                response = client.post("/otlp/v1/metrics", data=body, headers=headers)
                times.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.get_data(as_text=True)
            receiver = time.perf_counter() - started
            jobs = queue().count
            started = time.perf_counter()
            SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
            worker = time.perf_counter() - started
            failed = queue().failed_job_registry.count
            db.session.remove()
            stored = db.session.execute(db.text("SELECT count(*) FROM usage_events")).scalar()
            redis_connection().flushdb()
            db.session.remove()
            db.engine.dispose()
    p50 = statistics.median(times) * 1000
    print(f"receiver: {points} points in {len(bodies)} requests, {receiver:.1f}s "
          f"({points / receiver:,.0f} points/s, p50 {p50:.1f} ms/request)")
    print(f"worker:   {points} points in {jobs} jobs, {worker:.1f}s "
          f"({points / worker:,.0f} points/s); {stored} usage events stored, "
          f"{failed} failed jobs")
    print(f"sustained (receiver + worker, one process each): "
          f"{points / max(receiver, worker):,.0f} points/s; in one process one after the "
          f"other: {points / (receiver + worker):,.0f} points/s")


if __name__ == "__main__":
    main()
