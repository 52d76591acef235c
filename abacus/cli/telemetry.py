"""`flask abacus ingest-tokens add|revoke|list`: the tokens OTLP exporters post with."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..extensions import db
from ..people.tokens import TokenError, create_token, revoke_token
from ..telemetry.status import token_rows

ingest_tokens_cli = AppGroup("ingest-tokens",
                             help="Ingest tokens for telemetry (OTLP) exporters.")


@ingest_tokens_cli.command("add")
@click.argument("name")
@click.option("--email", default=None,
              help="The person this token's telemetry belongs to when it names nobody "
                   "(a per-person rollout, Codex metrics).")
def add_command(name: str, email: str | None) -> None:
    """Create an ingest token NAME and print it (shown once, stored hashed)."""
    try:
        _row, plain = create_token("ingest", name, email=email, created_by="cli")
    except TokenError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(plain)
    click.echo(f"ingest token {name!r} created; it is shown only this once. Exporters send "
               "it as the header `Authorization: Bearer <token>` to https://HOST/otlp "
               "(docs/telemetry.md).", err=True)


@ingest_tokens_cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the ingest token NAME: its exporters are refused (403) from now on."""
    try:
        revoke_token("ingest", name)
    except TokenError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"ingest token {name!r} revoked")


@ingest_tokens_cli.command("list")
def list_command() -> None:
    """Every ingest token: state, owner, when it last delivered telemetry."""
    rows = token_rows()
    if not rows:
        click.echo("no ingest tokens (create one: flask abacus ingest-tokens add NAME)")
        return
    click.echo(f"{'name':<24}{'state':<9}{'owner':<28}{'last received':<28}{'points':>10}")
    for r in rows:
        last = r.last_received_at.isoformat(timespec="seconds") if r.last_received_at else "-"
        click.echo(f"{r.name:<24}{r.state:<9}{r.email or '-':<28}{last:<28}{r.points:>10,}")
