"""Budgets and Incidents in a real browser: the burn chart draws, acknowledging an incident
goes through the form (CSRF) and the row moves to acknowledged."""

from __future__ import annotations

from datetime import timedelta

from abacus.budgets import anomalies, service
from abacus.extensions import db
from tests.browser.conftest import dev_sign_in, settled, shoot_views
from tests.helpers import seed
from tests.test_budgets import _record


def test_budget_chart_and_incident_acknowledgement(app, live_server, page):
    with app.app_context():
        today = service.org_today()
        seed(app, [_record(today - timedelta(days=i), "10") for i in range(2, 16)]
             + [_record(today - timedelta(days=1), "95", key="spike"), _record(today, "5")])
        service.add_budget("Dev cap", "person:dev@example.com", "month", "150")
        db.session.commit()
        anomalies.detect()
    dev_sign_in(page, live_server, "/budgets")
    assert page.locator("svg.burn-chart polyline.burn-spent").count() == 1
    assert page.locator("svg.burn-chart line.burn-budget").count() == 1
    shoot_views(page, "budgets", dark=False)
    page.goto(live_server + "/incidents")
    settled(page)
    page.get_by_label("note").fill("agent left looping")
    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector("text=acknowledged by admin@example.com")
    assert page.get_by_text("agent left looping").is_visible()
    assert page.get_by_role("button", name="Resolve").is_visible()


def test_admin_edits_and_deletes_a_budget_in_the_browser(app, live_server, page):
    with app.app_context():
        service.add_budget("Team cap", "org", "month", "150")
        db.session.commit()
    dev_sign_in(page, live_server, "/budgets")
    page.get_by_text("Edit or delete").click()
    page.get_by_label("Amount (USD)").first.fill("175.25")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Budget “Team cap”: amount $175.25")
    assert page.get_by_text("of $175.25").is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_text("Edit or delete").click()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_selector("text=Deleted the budget “Team cap”")
    with app.app_context():
        assert service.active_budgets() == []
