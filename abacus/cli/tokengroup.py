"""One home for the `add|revoke|list` command groups of bearer tokens (`api-tokens`,
`ingest-tokens`): thin over people.tokens. Each kind's module builds its group here with what
differs: the options of `add`, how a token of that kind is made, the words and the listing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
from flask.cli import AppGroup

from ..extensions import db
from ..models import AccessToken
from ..people.tokens import TokenError, revoke_token


def _done(action: Callable[[], Any]) -> Any:
    """Run `action` and commit; a refusal rolls back and exits non-zero with its message."""
    try:
        result = action()
    except TokenError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    return result


def token_group(group: str, *, kind: str, help: str,
                create: Callable[..., tuple[AccessToken, str]],
                add_options: Sequence[Callable[[Any], Any]], add_help: str,
                added: Callable[[AccessToken], str], revoke_help: str,
                revoked: Callable[[str], str], list_help: str,
                show_list: Callable[[], None]) -> AppGroup:
    """The group `group`: `add NAME [options]` calls `create(name, created_by="cli",
    **options)` and prints `added(row)` on stderr and then the token alone on stdout (so
    `TOKEN=$(flask abacus … add …)` works); `revoke NAME` prints `revoked(name)`; `list`
    runs `show_list`."""
    cli = AppGroup(group, help=help)

    def add_command(name: str, **options: Any) -> None:
        row, plain = _done(lambda: create(name, created_by="cli", **options))
        click.echo(added(row), err=True)
        click.echo(plain)

    add_command.__doc__ = add_help
    for option in reversed(add_options):  # as if stacked as decorators, first on top
        add_command = option(add_command)
    cli.command("add")(click.argument("name")(add_command))

    @cli.command("revoke", help=revoke_help)
    @click.argument("name")
    def revoke_command(name: str) -> None:
        _done(lambda: revoke_token(kind, name))
        click.echo(revoked(name))

    cli.command("list", help=list_help)(show_list)
    return cli
