"""`flask abacus api-tokens add|list|revoke`: thin over people.tokens (the same calls as
Admin → API tokens); the group's plumbing is shared with ingest tokens (`tokengroup`)."""

from __future__ import annotations

from datetime import datetime

import click

from ..models import ROLES
from ..people.tokens import create_api_token, list_tokens
from .tokengroup import token_group


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _list() -> None:
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


api_tokens_cli = token_group(
    "api-tokens", kind="api", help="Tokens for the read-only JSON API (/api/v1).",
    create=create_api_token,
    add_options=[
        click.option("--role", type=click.Choice(ROLES), default="member", show_default=True,
                     help="What the token may read: admin and finance every figure, a member "
                          "only the rows of --email (and team aggregates, as on the pages)."),
        click.option("--email", metavar="E", help="The person a member token reads as "
                                                  "(required for --role member)."),
    ],
    add_help="Make an API token NAME and print it once: only its hash is kept.",
    added=lambda row: (f"API token {row.name} ({row.role}"
                       f"{', ' + row.email if row.email else ''}); shown once, store it now:"),
    revoke_help="Revoke the live API token NAME: refused from its next request on.",
    revoked=lambda name: f"Revoked API token {name}.",
    list_help="Every API token: name, role, e-mail, created, last used, revoked (never the "
              "token).",
    show_list=_list)
