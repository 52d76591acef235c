"""`flask abacus github …`: commit backfill and the state of every repository."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from .common import counting_bar, day_option

github_cli = AppGroup("github", help="GitHub commits: backfill and status.")


@github_cli.command("backfill")
@click.option("--org", metavar="ORG", help="Every non-archived repository of ORG "
              "(default GITHUB_ORG when no --repo is given).")
@click.option("--repo", "repos", metavar="OWNER/NAME", multiple=True,
              help="A repository (repeatable).")
@click.option("--from", "first", metavar="YYYY-MM-DD", required=True,
              help="Oldest day to fetch.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Newest day (default today).")
def backfill_command(org: str | None, repos: tuple[str, ...], first: str,
                     last: str | None) -> None:
    """Store default-branch commits (with line stats and AI attribution) from --from on."""
    from ..github import backfill as commit_backfill
    from ..providers.base import ProviderError

    since, until = day_option(first, "--from"), day_option(last, "--to")
    if until and until < since:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    settings = current_app.config["ABACUS"]
    if not org and not repos:
        org, repos = settings.github_org, settings.github_repos
    if not org and not repos:
        raise click.UsageError("name an --org or --repo (or set GITHUB_ORG / GITHUB_REPOS)")
    for name in repos:
        if name.count("/") != 1 or not all(name.split("/")):
            raise click.BadParameter(f"{name!r} is not owner/name", param_hint="--repo")
    try:
        api = commit_backfill.client(settings)
        names = commit_backfill.targets(api, org, tuple(repos))
    except ProviderError as exc:
        raise click.ClickException(str(exc)) from None
    if not names:
        raise click.ClickException(f"no repositories to backfill in {org}")
    bar, update = counting_bar("github backfill", unit="repo", noun="commits")
    with bar:
        run = commit_backfill.backfill(api, names, since, until, progress=update)
    for r in run.repositories:
        line = (f"{r.repository}: {r.status}, {r.listed:,} listed, {r.inserted:,} new, "
                f"{r.updated:,} updated, {r.merges_skipped:,} merges skipped")
        click.echo(line + (f" ({r.error})" if r.error else ""))
    if run.stopped:
        click.echo(f"stopped: {run.stopped}", err=True)
    if not run.ok:
        sys.exit(1)


@github_cli.command("status")
def status_command() -> None:
    """Every repository: history state, commits stored, line stats still missing."""
    from ..analytics.commits import github_status

    st = github_status(current_app.config["ABACUS"])
    if not st.repositories:
        click.echo("no repositories yet: configure the webhook or run "
                   "`flask abacus github backfill --org ORG --from YYYY-MM-DD`")
    else:
        click.echo(f"{'repository':<40}{'history':<12}{'from':<12}{'commits':>9}"
                   f"{'no stats':>10}  last commit")
    for r in st.repositories:
        last = r.last_commit_at.isoformat(timespec="minutes") if r.last_commit_at else "-"
        click.echo(f"{r.full_name:<40}{r.backfill_status:<12}{str(r.backfill_from or '-'):<12}"
                   f"{r.commits:>9,}{r.without_stats:>10,}  {last}"
                   + (f"  ({r.last_error})" if r.last_error else ""))
    delivery = (st.last_delivery_at.isoformat(timespec="seconds") if st.last_delivery_at
                else "never")
    click.echo(f"webhook: {'on' if st.webhook_on else 'off (no secret)'}, "
               f"last delivery {delivery}")
    click.echo(f"API: {'configured' if st.api_configured else 'not configured'} "
               f"({st.api_url})")
