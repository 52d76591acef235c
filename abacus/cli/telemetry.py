"""`flask abacus ingest-tokens add|revoke|list`: the tokens OTLP exporters post with; the
group's plumbing is shared with API tokens (`tokengroup`)."""

from __future__ import annotations

from functools import partial

import click

from ..people.tokens import create_token
from ..telemetry.status import token_rows
from .tokengroup import token_group


def _list() -> None:
    rows = token_rows()
    if not rows:
        click.echo("no ingest tokens (create one: flask abacus ingest-tokens add NAME)")
        return
    click.echo(f"{'name':<24}{'state':<9}{'owner':<28}{'last received':<28}{'points':>10}")
    for r in rows:
        last = r.last_received_at.isoformat(timespec="seconds") if r.last_received_at else "-"
        click.echo(f"{r.name:<24}{r.state:<9}{r.email or '-':<28}{last:<28}{r.points:>10,}")


ingest_tokens_cli = token_group(
    "ingest-tokens", kind="ingest", help="Ingest tokens for telemetry (OTLP) exporters.",
    create=partial(create_token, "ingest"),
    add_options=[click.option(
        "--email", default=None,
        help="The person this token's telemetry belongs to when it names nobody "
             "(a per-person rollout, Codex metrics).")],
    add_help="Create an ingest token NAME and print it (shown once, stored hashed).",
    added=lambda row: (f"ingest token {row.name!r} created; it is shown only this once. "
                       "Exporters send it as the header `Authorization: Bearer <token>` to "
                       "https://HOST/otlp (docs/telemetry.md)."),
    revoke_help="Revoke the ingest token NAME: its exporters are refused (403) from now on.",
    revoked=lambda name: f"ingest token {name!r} revoked",
    list_help="Every ingest token: state, owner, when it last delivered telemetry.",
    show_list=_list)
