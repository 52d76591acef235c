"""`flask abacus api-tokens add|list|revoke`: thin over people.tokens (the same calls as
Admin → API tokens)."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from ..extensions import db
from ..models import ROLES
from ..people.tokens import TokenError, create_api_token, list_tokens, revoke_token

api_tokens_cli = AppGroup("api-tokens", help="Tokens for the read-only JSON API (/api/v1).")


def _fail(exc: TokenError) -> click.ClickException:
    db.session.rollback()
    return click.ClickException(str(exc))


@api_tokens_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True,
              help="What the token may read: admin and finance every figure, a member only "
                   "the rows of --email (and team aggregates, as on the pages).")
@click.option("--email", metavar="E", help="The person a member token reads as (required "
                                           "for --role member).")
def add_command(name: str, role: str, email: str | None) -> None:
    """Make an API token NAME and print it once: only its hash is kept."""
    try:
        row, plain = create_api_token(name, role=role, email=email, created_by="cli")
    except TokenError as exc:
        raise _fail(exc) from None
    db.session.commit()
    click.echo(f"API token {row.name} ({row.role}{', ' + row.email if row.email else ''}); "
               "shown once, store it now:", err=True)
    click.echo(plain)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@api_tokens_cli.command("list")
def list_command() -> None:
    """Every API token: name, role, e-mail, created, last used, revoked (never the token)."""
    rows = list_tokens("api")
    if not rows:
        click.echo("No API tokens.")
        return
    header = ("NAME", "ROLE", "EMAIL", "CREATED", "LAST USED", "REVOKED")
    table = [header] + [(t.name, t.role or "member", t.email or "-", _when(t.created_at),
                         _when(t.last_used_at), _when(t.revoked_at)) for t in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


@api_tokens_cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the live API token NAME: refused from its next request on."""
    try:
        revoke_token("api", name)
    except TokenError as exc:
        raise _fail(exc) from None
    db.session.commit()
    click.echo(f"Revoked API token {name}.")
