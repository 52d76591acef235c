"""OTLP → usage: which metrics and events mean what, per tool (contract:
providers/otel-claude-code.md, and the telemetry sections of openai.md and copilot.md).

Two steps, so the receiver does the cheap, stateless part and the worker the rest:

1. `extract` (in the receiver) walks a decoded request and keeps only the points and events
   Abacus maps, as small JSON-able dicts: tool, metric, a series key (sha256 of resource
   attributes + scope + metric + point attributes), temporality, start and time (ns), the
   value as text, and the attributes that matter. Points it cannot use are counted as
   rejected (the OTLP partial success); metrics of other tools are ignored.
2. `point_record` / `event_record` (in the worker) turn one point's delta, or one event,
   into a UsageRecord.

Identity: `user.email` (point attributes first, then resource attributes); else
`user.account_id` (Claude Code's Admin API user id, mappable under source `otel`) or
`enduser.id`; else the ingest token's owner e-mail; else `token:NAME` (kept, shown as
unmapped, never dropped).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..providers.base import UsageRecord
from ..usage.precedence import ACTIVITY_KIND, METRIC_KINDS, REQUEST_KIND

TOKENS_KIND, COST_KIND = METRIC_KINDS
CENT_DIGITS = Decimal("0.000001")  # usage_events.cost_usd keeps 6 decimals

# metric name → (tool, what): what is "tokens", "cost" or an activity extras key.
CLAUDE_METRICS = {
    "claude_code.token.usage": "tokens",
    "claude_code.cost.usage": "cost",
    "claude_code.session.count": "sessions",
    "claude_code.lines_of_code.count": "lines",
    "claude_code.commit.count": "commits",
    "claude_code.pull_request.count": "pull_requests",
}
CODEX_METRICS = {"codex.turn.token_usage": "tokens"}
COPILOT_METRICS = {"gen_ai.client.token.usage": "tokens", "copilot_chat.session.count": "sessions"}
COPILOT_SERVICES = ("copilot-chat", "github-copilot")

# Token type attribute value → usage column, per tool.
TOKEN_COLUMNS = {
    # Claude Code: `input` excludes cache reads and writes.
    "claude_code": {"input": "input_tokens", "output": "output_tokens",
                    "cacheRead": "cache_read_tokens", "cacheCreation": "cache_write_tokens"},
    # Codex: input_tokens = non-cached + cached; reasoning is part of output; total is the sum.
    "codex": {"non_cached_input_tokens": "input_tokens", "cached_input_tokens":
              "cache_read_tokens", "output_tokens": "output_tokens"},
    "copilot": {"input": "input_tokens", "output": "output_tokens"},
}
TOKEN_TYPE_ATTR = {"claude_code": "type", "codex": "token_type", "copilot": "gen_ai.token.type"}
MODEL_ATTRS = ("model", "gen_ai.response.model", "gen_ai.request.model")

IDENTITY_ATTRS = ("user.email", "user.account_id", "enduser.id", "user.id")
KEPT_ATTRS = frozenset((*IDENTITY_ATTRS, *MODEL_ATTRS, "type", "token_type",
                        "gen_ai.token.type", "session.id", "query_source", "speed", "effort",
                        "start_type"))
EVENT_FIELDS = ("request_id", "cost_usd", "input_tokens", "output_tokens", "cache_read_tokens",
                "cache_creation_tokens", "duration_ms", "event.timestamp")
EXTRA_ATTRS = {"session.id": "session_id", "query_source": "query_source", "speed": "speed",
               "effort": "effort"}

DELTA, CUMULATIVE = 1, 2


@dataclass
class Extracted:
    """What one request carries that Abacus maps."""

    points: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def error(self) -> str:
        return "; ".join(self.problems[:5])

    def reject(self, problem: str) -> None:
        self.rejected += 1
        if len(self.problems) < 5:
            self.problems.append(problem)


def any_value(value) -> Any:
    """An OTLP AnyValue as a plain Python value (scalars; arrays/maps as JSON text)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return str(getattr(value, kind))[:200]
    return getattr(value, kind)


def attributes(kvs) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def tool_of(metric: str, resource: dict[str, Any], scope: str) -> str | None:
    """The tool a metric belongs to, or None for metrics Abacus does not map."""
    if metric in CLAUDE_METRICS:
        return "claude_code"
    if metric in CODEX_METRICS:
        return "codex"
    if metric in COPILOT_METRICS:
        service = str(resource.get("service.name") or "")
        if metric.startswith("copilot_chat.") or service in COPILOT_SERVICES \
                or "copilot" in scope.lower():
            return "copilot"
    return None


def _what(tool: str, metric: str) -> str:
    return {"claude_code": CLAUDE_METRICS, "codex": CODEX_METRICS,
            "copilot": COPILOT_METRICS}[tool][metric]


def series_key(resource: dict, scope: str, metric: str, attrs: dict) -> str:
    text = json.dumps([sorted(resource.items()), scope, metric, sorted(attrs.items())],
                      default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _kept(resource: dict, attrs: dict) -> dict[str, Any]:
    """The attributes that matter, point attributes over resource attributes."""
    out = {k: v for k, v in resource.items() if k in KEPT_ATTRS}
    out.update((k, v) for k, v in attrs.items() if k in KEPT_ATTRS)
    return out


def extract(signal: str, message) -> Extracted:
    """The mapped points (metrics) or events (logs) of a decoded Export…ServiceRequest."""
    out = Extracted()
    if signal == "metrics":
        for rm in message.resource_metrics:
            resource = attributes(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    _metric(out, resource, sm.scope.name, metric)
    else:
        for rl in message.resource_logs:
            resource = attributes(rl.resource.attributes)
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    _log_record(out, resource, record)
    return out


def _metric(out: Extracted, resource: dict, scope: str, metric) -> None:
    tool = tool_of(metric.name, resource, scope)
    if tool is None:
        return
    data = metric.WhichOneof("data")
    where = f"metric {metric.name}"
    if data not in ("sum", "histogram", "exponential_histogram"):
        for _ in _points(metric, data):
            out.reject(f"{where}: a {data or 'metric without data'} is not a counter "
                       "(expected a sum or histogram)")
        return
    body = getattr(metric, data)
    temporality = body.aggregation_temporality
    for p in body.data_points:
        if temporality not in (DELTA, CUMULATIVE):
            out.reject(f"{where}: aggregation temporality unspecified")
            continue
        if data == "sum":
            value = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
        elif p.HasField("sum"):
            value = p.sum
        else:
            out.reject(f"{where}: histogram point without a sum")
            continue
        if not p.time_unix_nano:
            out.reject(f"{where}: a point without timeUnixNano")
            continue
        if isinstance(value, float) and not math.isfinite(value) or value < 0:
            out.reject(f"{where}: value {value!r} is not a count (negative or not finite)")
            continue
        attrs = attributes(p.attributes)
        out.points.append({
            "tool": tool, "metric": metric.name, "what": _what(tool, metric.name),
            "series": series_key(resource, scope, metric.name, attrs),
            "cumulative": temporality == CUMULATIVE,
            "start": p.start_time_unix_nano, "time": p.time_unix_nano,
            "value": repr(value), "attrs": _kept(resource, attrs),
        })


def _points(metric, data):
    return getattr(metric, data).data_points if data else ()


def _event_name(record, attrs: dict) -> str:
    name = record.event_name or str(attrs.get("event.name") or "")
    if not name and record.body.WhichOneof("value") == "string_value":
        name = record.body.string_value
    return name.removeprefix("claude_code.")


def _iso_ns(stamp: Any) -> int:
    """An ISO 8601 time with a zone (`event.timestamp`) in ns since the epoch; 0 if not."""
    try:
        at = datetime.fromisoformat(str(stamp or "").replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int(at.timestamp() * 1_000_000_000) if at.tzinfo else 0


def _log_record(out: Extracted, resource: dict, record) -> None:
    attrs = attributes(record.attributes)
    if _event_name(record, attrs) != "api_request" or \
            str(resource.get("service.name") or "claude-code") != "claude-code":
        return
    time_ns = record.time_unix_nano or _iso_ns(attrs.get("event.timestamp")) \
        or record.observed_time_unix_nano
    if not time_ns:
        out.reject("claude_code.api_request: an event without a time")
        return
    fields = {k: attrs[k] for k in EVENT_FIELDS if k in attrs}
    try:
        for name in ("input_tokens", "output_tokens", "cache_read_tokens",
                     "cache_creation_tokens"):
            if int(Decimal(str(fields.get(name, 0)))) < 0:
                raise InvalidOperation
        if fields.get("cost_usd") not in (None, ""):
            Decimal(str(fields["cost_usd"]))
    except (InvalidOperation, ValueError):
        out.reject(f"claude_code.api_request {fields.get('request_id', '')}: token counts or "
                   "cost_usd are not numbers")
        return
    key = str(fields.get("request_id") or "") or series_key(resource, "", "api_request",
                                                             {**attrs, "t": time_ns})
    out.events.append({"tool": "claude_code", "key": key, "time": time_ns,
                       "fields": {k: str(v) for k, v in fields.items()},
                       "attrs": _kept(resource, attrs)})


# --- step 2: records ---------------------------------------------------------------------

@dataclass(frozen=True)
class Owner:
    """The ingest token a batch came with: its name, and the person it belongs to (if any)."""

    name: str
    email: str | None = None


def identity(attrs: dict[str, Any], owner: Owner) -> tuple[str, str | None]:
    """(actor, e-mail) of a point or event."""
    email = str(attrs.get("user.email") or "").strip().lower()
    if "@" in email:
        return email, email
    for key in ("user.account_id", "enduser.id"):
        if attrs.get(key):
            return str(attrs[key]), None
    if owner.email:
        return owner.email, owner.email
    return f"token:{owner.name}", None


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1_000_000_000, UTC)


def _model(attrs: dict) -> str:
    return next((str(attrs[k]) for k in MODEL_ATTRS if attrs.get(k)), "")


def _extras(attrs: dict) -> dict[str, Any]:
    return {name: str(attrs[key]) for key, name in EXTRA_ATTRS.items() if attrs.get(key)}


def quantize(point: dict, value: str) -> Decimal:
    """A point's value as the unit it is stored in: whole tokens or counts, dollars to 6
    decimals (so cumulative deltas telescope exactly to the last total)."""
    number = Decimal(value)
    if point["what"] == "cost":
        return number.quantize(CENT_DIGITS)
    return number.to_integral_value()


def point_record(point: dict, delta: Decimal, owner: Owner) -> UsageRecord | None:
    """The record of `delta` (tokens, dollars or a count) of one point; None when it adds
    nothing or is of a token type that has no column."""
    if delta <= 0:
        return None
    tool, what, attrs = point["tool"], point["what"], point["attrs"]
    actor, email = identity(attrs, owner)
    key = f"m|{point['series']}|{point['start']}|{point['time']}"
    common = {"event_key": key, "occurred_at": _at(point["time"]), "tool": tool,
              "actor": actor, "email": email}
    extras = _extras(attrs)
    if what == "tokens":
        kind = str(attrs.get(TOKEN_TYPE_ATTR[tool]) or "")
        column = TOKEN_COLUMNS[tool].get(kind)
        if column is None:
            return None
        # Claude Code reports the money apart (cost.usage): its token records carry none,
        # so nothing is estimated twice. Codex and Copilot report no money: estimated.
        cost = Decimal(0) if tool == "claude_code" else None
        return UsageRecord(**common, raw_model=_model(attrs), kind=TOKENS_KIND,
                           cost_usd=cost, extras={**extras, "token_type": kind},
                           **{column: int(delta)})
    if what == "cost":
        return UsageRecord(**common, raw_model=_model(attrs), kind=COST_KIND, cost_usd=delta,
                           extras=extras)
    name = what
    if what == "lines":
        name = {"added": "lines_added", "removed": "lines_removed"}.get(
            str(attrs.get("type") or ""))
        if name is None:
            return None
    if attrs.get("start_type"):
        extras["start_type"] = str(attrs["start_type"])
    return UsageRecord(**common, raw_model="", kind=ACTIVITY_KIND, cost_usd=Decimal(0),
                       extras={**extras, name: int(delta)})


def event_record(event: dict, owner: Owner) -> UsageRecord:
    """One Claude Code API request (`claude_code.api_request`): exact tokens and cost."""
    fields, attrs = event["fields"], event["attrs"]
    actor, email = identity(attrs, owner)

    def count(name: str) -> int:
        return int(Decimal(fields.get(name) or "0"))

    cost = fields.get("cost_usd")
    extras = _extras(attrs)
    if fields.get("duration_ms"):
        extras["duration_ms"] = fields["duration_ms"]
    return UsageRecord(
        event_key=f"r|{event['key']}", occurred_at=_at(event["time"]), tool=event["tool"],
        actor=actor, email=email, raw_model=str(attrs.get("model") or ""), kind=REQUEST_KIND,
        input_tokens=count("input_tokens"), output_tokens=count("output_tokens"),
        cache_read_tokens=count("cache_read_tokens"),
        cache_write_tokens=count("cache_creation_tokens"),
        cost_usd=Decimal(cost).quantize(CENT_DIGITS) if cost not in (None, "") else None,
        extras=extras)
