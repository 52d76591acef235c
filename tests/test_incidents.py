"""Anomalies → incidents: a seeded spike opens one incident (re-runs add none) that is
acknowledged and resolved; an expensive new model opens one; quiet usage opens none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from abacus.budgets import anomalies, service
from abacus.budgets.anomalies import IncidentError
from abacus.extensions import db
from abacus.models import Incident
from tests.helpers import csrf_token, seed, sign_in
from tests.test_budgets import _record


def _history(app, today, spike: str, person: str = "dev@example.com"):
    days = [today - timedelta(days=i) for i in range(2, 16)]
    seed(app, [_record(d, "10", person=person) for d in days]
         + [_record(today - timedelta(days=1), spike, person=person, key=f"{person}-spike")])


def test_a_spike_opens_one_incident_that_is_acknowledged_and_resolved(app, ctx, runner):
    today = service.org_today()
    _history(app, today, "95")  # 9.5× the $10 median, above the $20 floor
    _history(app, today, "25", person="ana@example.com")  # 2.5×: not a spike
    out = runner.invoke(args=["abacus", "budgets", "evaluate"])
    assert "1 incident(s) opened" in out.output, out.output
    assert runner.invoke(args=["abacus", "budgets", "evaluate"]).output.endswith(
        "0 incident(s) opened\n")
    incident = db.session.execute(select(Incident)).scalar_one()
    assert (incident.person, incident.tool, incident.kind, incident.status) == (
        "dev@example.com", "cursor", "spike", "open")
    assert "9.5× the 14-day median of $10.00" in incident.detail
    anomalies.acknowledge(incident.id, "admin@example.com", "looping agent, stopped")
    with pytest.raises(IncidentError, match=f"incident {incident.id} is acknowledged, not open"):
        anomalies.acknowledge(incident.id, "admin@example.com")
    anomalies.resolve(incident.id, "admin@example.com")
    db.session.refresh(incident)
    assert incident.status == "resolved" and incident.note == "looping agent, stopped"
    assert incident.acknowledged_at <= incident.resolved_at
    anomalies.detect()  # the same resolved day never reopens
    assert db.session.execute(select(Incident)).scalars().all() == [incident]


def test_todays_partial_spike_waits_unless_over_the_hard_limit(app, ctx):
    today = service.org_today()
    days = [today - timedelta(days=i) for i in range(1, 15)]
    seed(app, [_record(d, "10") for d in days] + [_record(today, "150", key="today")])
    assert anomalies.detect() == []  # $150 < the $200 hard limit: today is not complete
    seed(app, [_record(today, "250", key="today")])
    assert [i.last_day for i in anomalies.detect()] == [today]


def test_first_use_of_an_expensive_model_opens_an_incident(app, ctx):
    today = service.org_today()
    seed(app, [_record(today - timedelta(days=i), "1", model="cheap", tokens=1000)
                for i in range(2, 20)]
         + [_record(today - timedelta(days=1), "2", model="opus", tokens=100)])
    opened = anomalies.detect()
    assert [(i.kind, i.person) for i in opened] == [("new_model", "dev@example.com")]
    assert "first use of opus" in opened[0].detail and "20.0×" in opened[0].detail


def test_incidents_page_open_first_and_acknowledge_with_csrf(app, client):
    with app.app_context():  # not held across requests: Flask-Login caches the user in it
        today = service.org_today()
        _history(app, today, "95")
        _history(app, today, "95", person="ana@example.com")
        anomalies.detect()
        ana = db.session.execute(select(Incident).where(
            Incident.person == "ana@example.com")).scalar_one()
        anomalies.resolve(ana.id, "admin@example.com")
        dev_id = db.session.execute(select(Incident.id).where(
            Incident.person == "dev@example.com")).scalar_one()
    sign_in(client, "admin@example.com")
    page = client.get("/incidents").get_data(as_text=True)
    assert page.index("dev@example.com") < page.index("ana@example.com")  # open first
    assert client.post(f"/incidents/{dev_id}/acknowledge", data={"note": "x"}).status_code == 400
    done = client.post(f"/incidents/{dev_id}/acknowledge",
                       data={"note": "on it", "csrf_token": csrf_token(page)})
    assert done.status_code in (302, 303)
    with app.app_context():
        assert db.session.get(Incident, dev_id).acknowledged_by == "admin@example.com"
    again = client.post(f"/incidents/{dev_id}/acknowledge",
                        data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "is acknowledged, not open" in again.get_data(as_text=True)

    member = app.test_client()
    sign_in(member, "ana@example.com")
    mine = member.get("/incidents").get_data(as_text=True)
    assert "ana@example.com" in mine and "dev@example.com" not in mine
    refused = member.post(f"/incidents/{dev_id}/resolve",
                          data={"csrf_token": csrf_token(mine)})
    assert refused.status_code == 403


def test_a_day_far_above_the_other_active_people_opens_an_outlier_incident(app, ctx):
    today = service.org_today()
    yesterday = today - timedelta(days=1)
    peers = [("a", "8"), ("b", "10"), ("c", "12"), ("d", "9"), ("e", "11")]
    # New to the tool (no baseline of their own), so only the comparison with peers sees it.
    seed(app, [_record(yesterday, c, person=f"{p}@example.com") for p, c in peers]
         + [_record(yesterday, "60", person="new@example.com")])
    opened = anomalies.detect()
    assert [(i.kind, i.person) for i in opened] == [("outlier", "new@example.com")]
    assert "above the other 5 active people's average of $10.00" in opened[0].detail
