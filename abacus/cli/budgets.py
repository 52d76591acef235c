"""`flask abacus budgets …`, `flask abacus alerts test`, `flask abacus incidents …`: thin
over abacus.budgets."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from .common import day_option

budgets_cli = AppGroup("budgets", help="Budgets in USD, their forecasts and alerts.")
alerts_cli = AppGroup("alerts", help="Alert channels (Apprise URLs).")
incidents_cli = AppGroup("incidents", help="Anomaly incidents.")


@budgets_cli.command("add")
@click.option("--name", required=True)
@click.option("--scope", required=True,
              help="org, person:EMAIL, tool:TOOL, account:NAME or team:TEAM; combine with '+' "
                   "(person:a@x.com+tool:cursor).")
@click.option("--period", required=True, type=click.Choice(["month", "quarter"]))
@click.option("--amount", required=True, metavar="USD")
@click.option("--counts", default="usage", show_default=True,
              type=click.Choice(["usage", "seats", "total"]))
@click.option("--thresholds", default="50,80,100", show_default=True, metavar="PERCENTS")
@click.option("--notify", "notify_urls", multiple=True, metavar="APPRISE_URL",
              help="This budget's own channels (else ABACUS_ALERT_URLS); stored encrypted.")
@click.option("--ends", "ends", metavar="YYYY-MM-DD", help="Last day the budget applies.")
def budgets_add_command(name: str, scope: str, period: str, amount: str, counts: str,
                        thresholds: str, notify_urls: tuple[str, ...], ends: str | None) -> None:
    """Add a budget."""
    from ..budgets.service import SEATS_RULE, BudgetError, add_budget, scope_label
    from ..extensions import db

    try:
        budget = add_budget(name, scope, period, amount, counts, thresholds, notify_urls,
                            day_option(ends, "--ends"))
    except BudgetError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"budget {budget.name!r}: ${budget.amount_usd} per {budget.period} on "
               f"{scope_label(budget.scope)}, thresholds {budget.thresholds}")
    if counts != "usage":
        click.echo(f"  note: {SEATS_RULE}")


@budgets_cli.command("edit")
@click.argument("name")
@click.option("--amount", metavar="USD")
@click.option("--thresholds", metavar="PERCENTS")
@click.option("--notify", "notify_urls", multiple=True, metavar="APPRISE_URL",
              help="Replace the budget's own channels (stored encrypted).")
@click.option("--clear-notify", is_flag=True,
              help="Drop the budget's own channels: ABACUS_ALERT_URLS is used.")
def budgets_edit_command(name: str, amount: str | None, thresholds: str | None,
                         notify_urls: tuple[str, ...], clear_notify: bool) -> None:
    """Change a budget's amount, thresholds or channels; alerts already sent this period
    are not sent again."""
    from ..budgets.service import BudgetError, edit_budget, get_budget
    from ..extensions import db

    if notify_urls and clear_notify:
        raise click.ClickException("--notify and --clear-notify: give one, not both")
    urls = () if clear_notify else (notify_urls or None)
    try:
        changed = edit_budget(get_budget(name), amount, thresholds, urls)
    except BudgetError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"budget {name!r}: " + (", ".join(changed) if changed else "nothing changed"))


@budgets_cli.command("delete")
@click.argument("name")
def budgets_delete_command(name: str) -> None:
    """Delete a budget and its record of alerts sent."""
    from ..budgets.service import BudgetError, delete_budget, get_budget
    from ..extensions import db

    try:
        delete_budget(get_budget(name))
    except BudgetError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"budget {name!r} deleted")


@budgets_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def budgets_list_command(as_json: bool) -> None:
    """Every budget in force: spent, forecast, status."""
    from ..budgets.service import FORECAST_RULE, states

    found = states()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in found], indent=2))
        return
    if not found:
        click.echo("no budgets")
        return
    for s in found:
        d = s.as_dict()
        click.echo(f"{d['name']}: {d['scope']}, {d['period']} {d['period_start']}..."
                   f"{d['period_end']}: spent ${d['spent_usd']} of ${d['amount_usd']} "
                   f"({s.percent}%), forecast ${d['forecast_usd']}, {d['status']}")
        if s.note:
            click.echo(f"  note: {s.note}")
    click.echo(FORECAST_RULE)


@budgets_cli.command("evaluate")
def budgets_evaluate_command() -> None:
    """Send due budget alerts and open incidents (what the schedule runs)."""
    from ..budgets.runs import evaluate_all

    out = evaluate_all()
    click.echo(f"{out['budgets']} budget(s) evaluated, {len(out['sent'])} alert(s) sent, "
               f"{len(out['incidents_opened'])} incident(s) opened")
    for line in out["sent"]:
        click.echo(f"  sent: {line}")


@alerts_cli.command("test")
@click.argument("url")
def alerts_test_command(url: str) -> None:
    """Send a test alert to one Apprise URL."""
    from .. import notify

    try:
        urls = notify.check_urls([url], "URL")
    except notify.BadChannel as exc:
        raise click.ClickException(str(exc)) from None
    if notify.send(urls, "Abacus: test alert", "This is a test alert from Abacus.") != 1:
        click.echo("the channel did not accept the test alert (see the log)", err=True)
        sys.exit(1)
    click.echo("test alert sent")


@incidents_cli.command("list")
@click.option("--status", type=click.Choice(["open", "acknowledged", "resolved"]))
def incidents_list_command(status: str | None) -> None:
    """Incidents, open first."""
    from ..budgets.anomalies import incidents

    for i in incidents(status):
        click.echo(f"#{i.id} {i.status}: {i.person} {i.tool} {i.first_day}..{i.last_day}: "
                   f"{i.detail}")


@incidents_cli.command("ack")
@click.argument("incident_id", type=int)
@click.option("--by", required=True, metavar="EMAIL")
@click.option("--note")
def incidents_ack_command(incident_id: int, by: str, note: str | None) -> None:
    _move(incident_id, by, note, "acknowledged")


@incidents_cli.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--by", required=True, metavar="EMAIL")
@click.option("--note")
def incidents_resolve_command(incident_id: int, by: str, note: str | None) -> None:
    _move(incident_id, by, note, "resolved")


def _move(incident_id: int, by: str, note: str | None, to: str) -> None:
    """Acknowledge or resolve an incident (the same service call as the page's buttons)."""
    from ..budgets.anomalies import IncidentError, acknowledge, resolve

    try:
        (acknowledge if to == "acknowledged" else resolve)(incident_id, by, note)
    except IncidentError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"incident {incident_id} {to}")
