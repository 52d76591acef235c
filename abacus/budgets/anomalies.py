"""Anomalies → incidents.

Spike: a person's spend on a tool on a complete day ≥ ABACUS_ANOMALY_FACTOR × the median of
their days with spend on that tool in the 14 days before, and above ABACUS_ANOMALY_FLOOR_USD.
Today (not complete) only counts when it alone is above ABACUS_ANOMALY_HARD_LIMIT_USD.
New model: the first day a person uses a model whose cost per token is ≥
ABACUS_ANOMALY_MODEL_FACTOR × that of their usual model (most spend in the 30 days before).
Outlier: a person's spend on a tool on a complete day is ≥ ABACUS_ANOMALY_Z standard deviations
above the other active people's that day (at least 5 others), and above the floor; the whole
organisation is the "team" until teams exist.
A detection extends the person's unresolved incident of the same kind and tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from statistics import mean, median, stdev

from flask import current_app
from sqlalchemy import func, select

from .. import notify
from ..extensions import db
from ..models import Incident, UsageDaily, UsagePersonDaily
from .service import CENT, org_today

BASELINE_DAYS = 14
MIN_BASELINE_DAYS = 3  # fewer active days than this is no baseline: nothing is "unusual" yet
LOOKBACK_DAYS = 3  # days re-checked per run, so a late sync of a past day is still judged
USUAL_MODEL_DAYS = 30
STATUSES = ("open", "acknowledged", "resolved")


class IncidentError(ValueError):
    """A bad incident action (unknown id, wrong state); the message says which."""


@dataclass(frozen=True)
class Detection:
    kind: str  # spike | outlier | new_model
    person: str
    tool: str
    day: date
    spend: Decimal
    baseline: Decimal
    detail: str


def _person_days(first: date, last: date) -> dict[tuple[str, str], dict[date, Decimal]]:
    T = UsagePersonDaily
    rows = db.session.execute(
        select(T.person, T.tool, T.day, func.sum(T.cost_usd))
        .where(T.day >= first, T.day <= last).group_by(T.person, T.tool, T.day)).all()
    out: dict[tuple[str, str], dict[date, Decimal]] = {}
    for person, tool, day, cost in rows:
        out.setdefault((person, tool), {})[day] = Decimal(cost or 0)
    return out


def spikes(today: date) -> list[Detection]:
    settings = current_app.config["ABACUS"]
    factor = Decimal(str(settings.anomaly_factor))
    floor = Decimal(str(settings.anomaly_floor_usd))
    hard = Decimal(str(settings.anomaly_hard_limit_usd))
    first = today - timedelta(days=LOOKBACK_DAYS + BASELINE_DAYS)
    out = []
    for (person, tool), days in _person_days(first, today).items():
        for back in range(LOOKBACK_DAYS + 1):
            day = today - timedelta(days=back)
            spend = days.get(day, Decimal(0))
            if spend <= floor or (day == today and spend <= hard):
                continue
            window = [v for d, v in days.items()
                      if day - timedelta(days=BASELINE_DAYS) <= d < day and v > 0]
            if len(window) < MIN_BASELINE_DAYS:
                continue
            base = Decimal(median(window))
            if spend >= factor * base:
                out.append(Detection("spike", person, tool, day, spend, base,
                                     f"${spend.quantize(CENT)} on {day} is "
                                     f"{(spend / base).quantize(Decimal('0.1'))}× the 14-day "
                                     f"median of ${base.quantize(CENT)}"))
    return out


MIN_PEERS = 5  # fewer other active people than this: no meaningful spread to compare with


def outliers(today: date) -> list[Detection]:
    settings = current_app.config["ABACUS"]
    z_limit = settings.anomaly_z
    floor = Decimal(str(settings.anomaly_floor_usd))
    per_day: dict[tuple[str, date], dict[str, Decimal]] = {}
    for (person, tool), days in _person_days(today - timedelta(days=LOOKBACK_DAYS),
                                             today - timedelta(days=1)).items():
        for day, spend in days.items():
            if spend > 0:
                per_day.setdefault((tool, day), {})[person] = spend
    out = []
    for (tool, day), people in per_day.items():
        for person, spend in people.items():
            others = [float(v) for p, v in people.items() if p != person]
            if spend <= floor or len(others) < MIN_PEERS:
                continue
            spread = stdev(others)
            z = (float(spend) - mean(others)) / spread if spread else float("inf")
            if z >= z_limit:
                base = Decimal(str(mean(others)))
                out.append(Detection("outlier", person, tool, day, spend, base,
                                     f"${spend.quantize(CENT)} on {day} is {z:.1f} standard "
                                     f"deviations above the other {len(others)} active "
                                     f"people's average of ${base.quantize(CENT)}"
                                     if spread else
                                     f"${spend.quantize(CENT)} on {day} while the other "
                                     f"{len(others)} active people each spent "
                                     f"${base.quantize(CENT)}"))
    return out


def new_models(today: date) -> list[Detection]:
    factor = Decimal(str(current_app.config["ABACUS"].anomaly_model_factor))
    T = UsageDaily
    person = func.coalesce(T.email, T.actor)
    tokens = T.input_tokens + T.output_tokens + T.cache_write_tokens + T.cache_read_tokens
    rows = db.session.execute(
        select(person, T.tool, T.model, T.day, func.sum(T.cost_usd), func.sum(tokens))
        .where(T.day >= today - timedelta(days=LOOKBACK_DAYS + USUAL_MODEL_DAYS),
               T.day < today)
        .group_by(person, T.tool, T.model, T.day)).all()
    seen: dict[tuple[str, str], dict[str, list[tuple[date, Decimal, int]]]] = {}
    for p, tool, model, day, cost, tok in rows:
        seen.setdefault((p, tool), {}).setdefault(model, []).append(
            (day, Decimal(cost or 0), int(tok or 0)))
    out = []
    for (p, tool), models in seen.items():
        for model, days in models.items():
            first_day = min(d for d, _, _ in days)
            if first_day < today - timedelta(days=LOOKBACK_DAYS):
                continue  # not new
            before = {m: [x for x in v if x[0] < first_day] for m, v in models.items()
                      if m != model}
            before = {m: v for m, v in before.items() if v}
            if not before:
                continue  # the person's first model is nobody's anomaly
            usual = max(before, key=lambda m: sum(c for _, c, _ in before[m]))
            u_cost = sum(c for _, c, _ in before[usual])
            u_tok = sum(t for _, _, t in before[usual])
            cost = sum(c for d, c, _ in days if d == first_day)
            tok = sum(t for d, _, t in days if d == first_day)
            if not (u_cost > 0 and u_tok and tok):
                continue
            ratio = (cost / tok) / (u_cost / u_tok)
            if ratio >= factor:
                out.append(Detection("new_model", p, tool, first_day, cost, u_cost,
                                     f"first use of {model} on {first_day}: "
                                     f"{ratio.quantize(Decimal('0.1'))}× the cost per token of "
                                     f"{usual}, the usual model"))
    return out


def detect(today: date | None = None) -> list[Incident]:
    """Open or extend incidents for today's detections; returns the ones opened."""
    today = today or org_today()
    opened = []
    for d in spikes(today) + outliers(today) + new_models(today):
        current = db.session.execute(select(Incident).where(
            Incident.person == d.person, Incident.tool == d.tool, Incident.kind == d.kind,
            Incident.status != "resolved")).scalars().first()
        if current is not None:
            if d.day > current.last_day:
                current.last_day, current.spend_usd = d.day, d.spend.quantize(CENT)
                current.detail = d.detail
            continue
        resolved_same = db.session.execute(select(Incident.id).where(
            Incident.person == d.person, Incident.tool == d.tool, Incident.kind == d.kind,
            Incident.first_day <= d.day, Incident.last_day >= d.day)).first()
        if resolved_same:
            continue  # resolved already: the same day never reopens
        incident = Incident(kind=d.kind, person=d.person, tool=d.tool, first_day=d.day,
                            last_day=d.day, spend_usd=d.spend.quantize(CENT),
                            baseline_usd=d.baseline.quantize(CENT), detail=d.detail)
        db.session.add(incident)
        db.session.flush()
        opened.append(incident)
    db.session.commit()
    for incident in opened:
        notify.send(notify.global_urls(),
                    f"Abacus: incident for {incident.person} ({incident.tool})",
                    f"{incident.detail}.\n{notify.page_link('/incidents')}")
    return opened


def incidents(status: str | None = None, person: str | None = None) -> list[Incident]:
    """Open first, then acknowledged, then resolved; newest first within each."""
    q = select(Incident)
    if status:
        q = q.where(Incident.status == status)
    if person is not None:
        q = q.where(func.lower(Incident.person) == person.lower())
    rows = db.session.execute(q.order_by(Incident.last_day.desc(), Incident.id.desc()))
    return sorted(rows.scalars().all(), key=lambda i: STATUSES.index(i.status))


def get(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise IncidentError(f"incident {incident_id}: no such incident")
    return incident


def acknowledge(incident_id: int, by: str, note: str | None = None) -> Incident:
    incident = get(incident_id)
    if incident.status != "open":
        raise IncidentError(f"incident {incident_id} is {incident.status}, not open")
    incident.status, incident.acknowledged_by = "acknowledged", by
    incident.acknowledged_at = datetime.now(UTC)
    incident.note = (note or "").strip()[:2000] or None
    db.session.commit()
    return incident


def resolve(incident_id: int, by: str, note: str | None = None) -> Incident:
    incident = get(incident_id)
    if incident.status == "resolved":
        raise IncidentError(f"incident {incident_id} is resolved already")
    now = datetime.now(UTC)
    if incident.acknowledged_at is None:  # resolving acknowledges it too
        incident.acknowledged_at, incident.acknowledged_by = now, by
    incident.status, incident.resolved_at, incident.resolved_by = "resolved", now, by
    if note and note.strip():
        incident.note = note.strip()[:2000]
    db.session.commit()
    return incident
