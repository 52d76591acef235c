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
    more: bool = False  # batches still wait (a drain ran out of time): another job follows


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


def process(batches: list[dict[str, Any]]) -> ProcessResult:
    """Write batches (see `intake.receive`), in the caller's transaction: one ingest per
    tool for all of them, so a burst costs a few set-based statements, not one per request."""
    result = ProcessResult(points=sum(len(b.get("points", ())) for b in batches),
                           events=sum(len(b.get("events", ())) for b in batches))
    db.session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                       {"a": _LOCK[0], "b": _LOCK[1]})
    records: dict[str, dict[str, UsageRecord]] = defaultdict(dict)
    tagged = [(p, b) for b in batches for p in b.get("points", [])]
    owners = {id(b): Owner(b["token_name"], b.get("token_email")) for b in batches}
    batch_of = {id(p): b for p, b in tagged}
    for point, delta in _deltas([p for p, _ in tagged], result):
        record = point_record(point, delta, owners[id(batch_of[id(point)])])
        if record is not None:
            # A record sent twice is one record (ingest would keep both, numbered).
            records[point["tool"]][record.event_key] = record
    for b in batches:
        for event in b.get("events", []):
            record = event_record(event, owners[id(b)])
            records[event["tool"]][record.event_key] = record
    for tool in sorted(records):
        res = ingest(telemetry_account(tool), list(records[tool].values()))
        result.records += len(records[tool])
        result.by_tool[tool] = len(records[tool])
        result.inserted += res.inserted
        result.updated += res.updated
        result.unchanged += res.unchanged
    _note_intake(batches)
    return result


def _note_intake(batches: list[dict[str, Any]]) -> None:
    """Per token: when it last delivered, how many requests and points."""
    per_token: dict[int, dict[str, Any]] = {}
    for b in batches:
        if b.get("token_id") is None:
            continue
        row = per_token.setdefault(b["token_id"], {"token_id": b["token_id"], "requests": 0,
                                                   "points": 0, "last_received_at": None})
        received = datetime.fromisoformat(b["received_at"]).astimezone(UTC)
        row["requests"] += 1
        row["points"] += len(b.get("points", ())) + len(b.get("events", ()))
        row["last_received_at"] = max(filter(None, (row["last_received_at"], received)))
    if not per_token:
        return
    stmt = insert(TelemetryIntake).values(sorted(per_token.values(),
                                                 key=lambda r: r["token_id"]))
    db.session.execute(stmt.on_conflict_do_update(index_elements=["token_id"], set_={
        "last_received_at": text("GREATEST(telemetry_intake.last_received_at, "
                                 "excluded.last_received_at)"),
        "requests": TelemetryIntake.requests + stmt.excluded.requests,
        "points": TelemetryIntake.points + stmt.excluded.points}))
