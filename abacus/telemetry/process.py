"""The queued half of the intake: one extracted batch in, usage records written.

Cumulative series become deltas against the last point stored per series in
`telemetry_series`: a later point of the same start time adds its growth; a new start time
or a smaller value is a restart (the new process counted from zero, so its whole value is
new); a point no later than the stored one (a re-sent batch, a retry, a late duplicate)
adds nothing. Delta points need no state: each is one record keyed by series + start +
time, so a re-sent batch finds its records already stored and `ingest` changes nothing.
Records go through `usage.ingest` into one account per tool (provider `otel`); what the
pages count where a billed source reports the same person-day is `usage.precedence`'s rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from ..extensions import db
from ..models import Account, TelemetryIntake, TelemetrySeries
from ..providers.base import UsageRecord
from ..usage.ingest import ingest
from ..usage.precedence import TELEMETRY_PROVIDER
from .mapping import Owner, event_record, point_record, quantize

# pg_advisory_xact_lock namespace: one telemetry batch at a time reads and moves the series
# state (ingest serializes the same batches on its account lock anyway).
_LOCK = (0x0AB5, 0)


def account_name(tool: str) -> str:
    return f"otel-{tool}"


@dataclass
class ProcessResult:
    points: int = 0
    events: int = 0
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_points: int = 0  # cumulative points seen before (re-sent) or of an older process
    by_tool: dict[str, int] = field(default_factory=dict)


def telemetry_account(tool: str) -> Account:
    """The account telemetry of `tool` is stored in (created on first use)."""
    name = account_name(tool)
    db.session.execute(insert(Account).values(
        provider=TELEMETRY_PROVIDER, name=name, settings={"source": "telemetry", "tool": tool},
        status="active").on_conflict_do_nothing(index_elements=["name"]))
    account = db.session.scalar(select(Account).where(Account.name == name))
    if account.provider != TELEMETRY_PROVIDER:
        raise ValueError(f"account {name!r} exists for provider {account.provider!r}; "
                         "rename it so telemetry can use the name")
    return account


def _deltas(points: list[dict[str, Any]], result: ProcessResult
            ) -> list[tuple[dict[str, Any], Decimal]]:
    """(point, delta) for every point; cumulative ones against the stored series state."""
    out = [(p, quantize(p, p["value"])) for p in points if not p["cumulative"]]
    cumulative = sorted((p for p in points if p["cumulative"]),
                        key=lambda p: (p["series"], p["time"], p["start"]))
    if not cumulative:
        return out
    keys = sorted({p["series"] for p in cumulative})
    state = {s.key: (s.start_ns, s.time_ns, s.value) for s in db.session.scalars(
        select(TelemetrySeries).where(TelemetrySeries.key.in_(keys)))}
    before = dict(state)
    for p in cumulative:
        value = quantize(p, p["value"])
        last = state.get(p["series"])
        if last is None:
            delta = value  # the first point of a series: everything since its start
        else:
            start, time, prev = last
            if p["start"] < start or (p["start"] == start and p["time"] <= time):
                result.skipped_points += 1  # seen before, or of an older process
                continue
            delta = value if p["start"] != start or value < prev else value - prev
        state[p["series"]] = (p["start"], p["time"], value)
        out.append((p, delta))
    changed = [{"key": k, "start_ns": v[0], "time_ns": v[1], "value": v[2]}
               for k, v in state.items() if before.get(k) != v]
    if changed:
        stmt = insert(TelemetrySeries).values(changed)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"start_ns": stmt.excluded.start_ns,
                                          "time_ns": stmt.excluded.time_ns,
                                          "value": stmt.excluded.value,
                                          "updated_at": text("now()")}))
    return out


def process(batch: dict[str, Any]) -> ProcessResult:
    """Write one batch (see `intake.receive`) in the caller's transaction."""
    result = ProcessResult(points=len(batch.get("points", ())),
                           events=len(batch.get("events", ())))
    owner = Owner(batch["token_name"], batch.get("token_email"))
    db.session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                       {"a": _LOCK[0], "b": _LOCK[1]})
    records: dict[str, list[UsageRecord]] = defaultdict(list)
    for point, delta in _deltas(batch.get("points", []), result):
        record = point_record(point, delta, owner)
        if record is not None:
            records[point["tool"]].append(record)
    for event in batch.get("events", []):
        records[event["tool"]].append(event_record(event, owner))
    for tool in sorted(records):
        # A record sent twice in one batch is one record (ingest would keep both, numbered).
        records[tool] = list({r.event_key: r for r in records[tool]}.values())
        res = ingest(telemetry_account(tool), records[tool])
        result.records += len(records[tool])
        result.by_tool[tool] = len(records[tool])
        result.inserted += res.inserted
        result.updated += res.updated
        result.unchanged += res.unchanged
    if batch.get("token_id") is not None:
        _note_intake(batch, result)
    return result


def _note_intake(batch: dict[str, Any], result: ProcessResult) -> None:
    received = datetime.fromisoformat(batch["received_at"]).astimezone(UTC)
    stmt = insert(TelemetryIntake).values(
        token_id=batch["token_id"], last_received_at=received, requests=1,
        points=result.points + result.events, records=result.records)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["token_id"], set_={
        "last_received_at": text("GREATEST(telemetry_intake.last_received_at, "
                                 "excluded.last_received_at)"),
        "requests": TelemetryIntake.requests + 1,
        "points": TelemetryIntake.points + stmt.excluded.points,
        "records": TelemetryIntake.records + stmt.excluded.records}))
