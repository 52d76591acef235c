"""Telemetry: OpenTelemetry (OTLP/HTTP) from Claude Code, Codex and Copilot, per person.

`otlp` decodes and answers OTLP/HTTP requests (protobuf or JSON, gzip) with the official
`opentelemetry-proto` messages; `intake` is what the receiver does with one request
(authenticate an ingest token, decode, extract, hand to a queue; never writes usage);
`mapping` turns OTLP metric points and log events into compact, JSON-able points and then
into usage records (tool, person, model, token split, cost, activity extras); `process` is
the queued job's work: cumulative series to deltas (state in `telemetry_series`, restarts
and re-sent batches detected), records written through `usage.ingest`, one account per tool;
`status` compares telemetry with the billed sources per day and tells when each token last
delivered.

May import: usage (ingest, precedence), people (ingest tokens), models, extensions, config,
providers (the UsageRecord type).
"""
