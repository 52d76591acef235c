"""`flask abacus seats list|import|cost|idle|leave`: thin over the seats package."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from ..extensions import db
from ..seats.assignments import SeatImportError, all_seats, import_seat_csv
from ..seats.cost import cost_report, money, report_json
from ..seats.idle import current_seats, idle_seats, savings, set_leave
from ..usage.prices import org_today
from .common import day_option

seats_cli = AppGroup("seats", help="Seats: assignments, their cost, and idle seats.")


@seats_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def seats_import_command(file: Path) -> None:
    """Import seats from a CSV: email,tool,plan,monthly_usd,from,to."""
    try:
        result = import_seat_csv(file.read_text(encoding="utf-8-sig"), file.name)
    except (SeatImportError, UnicodeDecodeError) as exc:
        db.session.rollback()
        for line in getattr(exc, "problems", [f"{file.name}: not UTF-8 text ({exc})"]):
            click.echo(line, err=True)
        raise click.ClickException("nothing imported") from None
    db.session.commit()
    click.echo(f"{file.name}: {result.rows} rows, {result.added} added, "
               f"{result.changed} changed, {result.unchanged} unchanged")


@seats_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def seats_list_command(as_json: bool) -> None:
    """Every seat, from every source, with the dates it is held."""
    seats = all_seats()
    if as_json:
        click.echo(json.dumps({"seats": [{
            "email": s.holder, "tool": s.tool, "plan": s.plan,
            "monthly_usd": money(s.monthly_usd) if s.monthly_usd is not None else None,
            "from": s.valid_from.isoformat(),
            "to": s.valid_to.isoformat() if s.valid_to else None,
            "source": s.source} for s in seats]}, indent=2))
        return
    for s in seats:
        price = f"${money(s.monthly_usd)}/month" if s.monthly_usd is not None else "plan price"
        click.echo(f"{s.holder:<32} {s.tool:<10} {s.plan:<14} {price:<16} "
                   f"{s.valid_from} → {s.valid_to or 'now'}  ({s.source})")
    if not seats:
        click.echo("No seats.")


@seats_cli.command("cost")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def seats_cost_command(start: str, end: str, as_json: bool) -> None:
    """Seats, usage and total cost per person over a range of days (inclusive)."""
    first, last = day_option(start, "--from"), day_option(end, "--to")
    if last < first:
        raise click.BadParameter(f"{end} is before --from ({start}).", param_hint="'--to'")
    data = report_json(cost_report(first, last))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{'person':<36} {'seats':>12} {'usage':>12} {'total':>12}")
    for person, row in list(data["people"].items()) + [("total", data["total"])]:
        click.echo(f"{person:<36} {row['seats_usd']:>12} {row['usage_usd']:>12} "
                   f"{row['total_usd']:>12}")


@seats_cli.command("idle")
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1),
              help="Idle after this many days without activity.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def seats_idle_command(days: int, as_json: bool) -> None:
    """Seats nobody used for N days (not younger than N days, not on leave)."""
    today = org_today()
    idle = idle_seats(current_seats(today), today, days)
    data = {"idle": [{"email": a.seat.holder, "tool": a.seat.tool, "plan": a.seat.plan,
                      "last_active": a.last_active.isoformat() if a.last_active else None,
                      "monthly_usd": money(a.monthly_usd) if a.monthly_usd is not None
                      else None} for a in idle],
            "monthly_savings_usd": money(savings(idle))}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for row in data["idle"]:
        click.echo(f"{row['email']:<32} {row['tool']:<10} {row['plan']:<14} "
                   f"last active {row['last_active'] or 'never'}  ${row['monthly_usd']}")
    click.echo(f"{len(idle)} idle seats; reclaiming them saves "
               f"${data['monthly_savings_usd']} per month")


@seats_cli.command("leave")
@click.argument("email")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD")
@click.option("--to", "end", default=None, metavar="YYYY-MM-DD",
              help="Last day of leave (default: until further notice).")
def seats_leave_command(email: str, start: str, end: str | None) -> None:
    """Mark a person on leave: their seats stay off the idle list meanwhile."""
    first, last = day_option(start, "--from"), day_option(end, "--to")
    if last is not None and last < first:
        raise click.BadParameter(f"{end} is before --from ({start}).", param_hint="'--to'")
    set_leave(email, first, last)
    db.session.commit()
    click.echo(f"{email.lower()} on leave from {first} to {last or 'further notice'}")


@seats_cli.command("price")
@click.argument("tool")
@click.argument("plan")
@click.argument("monthly_usd")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD",
              help="First day the price is in force.")
@click.option("--account", "account_name", metavar="NAME",
              help="Only for this account's seats (default: every account).")
def seats_price_command(tool: str, plan: str, monthly_usd: str, start: str,
                        account_name: str | None) -> None:
    """Override a seat plan's monthly price from a day on (per account or for all)."""
    from decimal import Decimal, InvalidOperation

    from sqlalchemy import select

    from ..models import Account
    from ..seats.plans import set_plan_price

    try:
        amount = Decimal(monthly_usd.lstrip("$"))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise click.BadParameter(f"“{monthly_usd}” is not an amount in USD.",
                                 param_hint="'MONTHLY_USD'") from None
    account_id = None
    if account_name:
        account = db.session.execute(select(Account).where(
            Account.name == account_name)).scalar_one_or_none()
        if account is None:
            raise click.BadParameter(f"no account named “{account_name}”.",
                                     param_hint="'--account'")
        account_id = account.id
    changed = set_plan_price(tool.lower(), plan.lower(), amount, day_option(start, "--from"),
                             account_id, created_by="cli")
    db.session.commit()
    click.echo(f"{tool.lower()} {plan.lower()}: ${money(amount)}/month from {start}"
               + (f" for {account_name}" if account_name else "")
               + ("" if changed else " (already so)"))
