"""`flask abacus teams …` and `flask abacus chargeback`: thin over the teams package."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import AppGroup

from ..extensions import db
from ..teams.chargeback import HEADER, chargeback, money, parse_month
from ..teams.sources import Plan, SourceError, apply_plan, csv_plan, cursor_plan, github_plan
from ..teams.tree import team_rows
from ..usage.prices import org_today

teams_cli = AppGroup("teams", help="Teams: import, sync from GitHub and Cursor, list.")


def _run(make: Callable[[], Plan], dry_run: bool) -> None:
    """Preview the plan; apply it unless --dry-run. All or nothing."""
    try:
        plan = make()
    except SourceError as exc:
        db.session.rollback()
        for line in exc.problems:
            click.echo(line, err=True)
        raise click.ClickException("nothing imported") from None
    for line in plan.lines():
        click.echo(line)
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run, nothing changed: would be {plan.summary()}")
        return
    apply_plan(plan)
    db.session.commit()
    click.echo(plan.summary())


@teams_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
def teams_import_command(file: Path, dry_run: bool) -> None:
    """Import teams and memberships: email,team,parent,cost_centre,lead,from,to."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file.name}: not UTF-8 text ({exc.reason})") from None
    _run(lambda: csv_plan(text, file.name, org_today()), dry_run)


@teams_cli.command("sync-github")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
def teams_sync_github_command(dry_run: bool) -> None:
    """Teams from GitHub's user–team report (stored by the Copilot sync)."""
    _run(lambda: github_plan(org_today()), dry_run)


@teams_cli.command("sync-cursor")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
def teams_sync_cursor_command(dry_run: bool) -> None:
    """Teams from Cursor billing groups (Admin API /teams/groups)."""
    from ..sync.teams import GroupsUnavailable, cursor_billing_groups

    try:
        groups = cursor_billing_groups()
    except GroupsUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    _run(lambda: cursor_plan(groups, org_today()), dry_run)


@teams_cli.command("list")
def teams_list_command() -> None:
    """The team tree with cost centres, members and leads today."""
    rows = team_rows(org_today())
    for r in rows:
        click.echo(f"{'  ' * r.depth}{r.name} [id {r.id}]"
                   f"{' cc ' + r.cost_centre if r.cost_centre else ''}: {r.members} members"
                   f"{', leads ' + ', '.join(r.leads) if r.leads else ''}"
                   f"{' (archived)' if r.archived else ''}")
    if not rows:
        click.echo("No teams.")


@click.command("chargeback")
@click.option("--month", required=True, metavar="YYYY-MM", help="The month to charge.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows.")
def chargeback_command(month: str, as_json: bool) -> None:
    """Usage, seats and total per cost centre and tool for a month (org time zone)."""
    try:
        first = parse_month(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--month'") from None
    report = chargeback(first)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in report.rows], indent=2))
        return
    click.echo(f"{HEADER[0]:<8} {HEADER[1]:<24} {HEADER[2]:<14} {HEADER[3]:>12} "
               f"{HEADER[4]:>12} {HEADER[5]:>12}")
    for r in report.rows:
        click.echo(f"{r.month:<8} {r.cost_centre:<24} {r.tool:<14} {money(r.usage_usd):>12} "
                   f"{money(r.seats_usd):>12} {money(r.total_usd):>12}")
    click.echo(f"{'total':<48} {money(report.usage_usd):>12} {money(report.seats_usd):>12} "
               f"{money(report.total_usd):>12}")
    if report.provisional:
        click.echo(f"provisional: {report.why_provisional}")
    if report.unpriced_seats:
        click.echo(f"{report.unpriced_seats} seat(s) without a known price left out")
