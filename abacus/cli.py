"""`flask abacus …` commands: thin wrappers over service functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

abacus_cli = AppGroup("abacus", help="Abacus commands.")
import_cli = AppGroup("import", help="Import usage exports.")
rollups_cli = AppGroup("rollups", help="Maintain the daily rollups.")
abacus_cli.add_command(import_cli)
abacus_cli.add_command(rollups_cli)


def init_app(app: Flask) -> None:
    app.cli.add_command(abacus_cli)


def _progress_bar(label: str):
    """A tqdm bar over bytes on a terminal; silent when output is not a terminal."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit="B", unit_scale=True, desc=label, disable=None, leave=False,
               file=sys.stderr)

    def update(stage: str, done: int, total: int, rows: int) -> None:
        if bar.disable:
            return
        bar.total = total
        bar.n = done
        note = {"storing": ", storing…", "done": ", done"}.get(stage, "")
        bar.set_postfix_str(f"{rows:,} rows{note}", refresh=False)
        bar.refresh()

    return bar, update


@import_cli.command("cursor-csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_name", metavar="NAME",
              help="Cursor account the export belongs to (default: the only Cursor account, "
                   "else 'cursor-csv').")
@click.option("--user", metavar="EMAIL",
              help="Person a personal export (no User column) belongs to.")
@click.option("--skip-invalid", is_flag=True,
              help="Store the good rows and report the bad ones instead of refusing the file.")
def import_cursor_csv_command(file: Path, account_name: str | None, user: str | None,
                              skip_invalid: bool) -> None:
    """Import a Cursor usage export (Dashboard → Usage → Export CSV)."""
    from .imports import ImportFailed, import_cursor_csv

    bar, update = _progress_bar(file.name)
    try:
        report = import_cursor_csv(file, account_name=account_name, user=user,
                                   skip_invalid=skip_invalid, progress=update)
    except ImportFailed as exc:
        bar.close()
        for line in exc.report.problem_lines():
            click.echo(line, err=True)
        raise click.ClickException(exc.report.summary()) from None
    except ValueError as exc:
        bar.close()
        raise click.ClickException(str(exc)) from None
    bar.close()
    click.echo(report.summary())
    for line in report.problem_lines():
        click.echo(f"  skipped: {line}")
    if report.total_mismatch_count:
        rows = ", ".join(map(str, report.total_mismatches))
        click.echo(f"  note: {report.total_mismatch_count} row(s) where Total Tokens is not the "
                   f"sum of the four token columns (rows {rows}); kept, raw total in extras")
    for model, n in report.result.unpriced_models.items():
        click.echo(f"  note: model {model!r} has no price: {n} event(s) stored as unpriced "
                   "(add a price override to estimate them)")


@abacus_cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats_command(as_json: bool) -> None:
    """Totals over everything stored: events, people, days, per tool."""
    from .analytics import lifetime_stats

    stats = lifetime_stats()
    if as_json:
        click.echo(json.dumps(stats))
        return
    click.echo(f"events {stats['events']:,}  people {stats['people']:,}  "
               f"days {stats['first_day'] or '-'} .. {stats['last_day'] or '-'}")
    header = f"{'tool':<14}{'events':>12}{'input':>16}{'output':>14}{'cache write':>16}" \
             f"{'cache read':>16}{'cost USD':>14}"
    click.echo(header)
    for tool, t in stats["tools"].items():
        click.echo(f"{tool:<14}{t['events']:>12,}{t['input_tokens']:>16,}"
                   f"{t['output_tokens']:>14,}{t['cache_write_tokens']:>16,}"
                   f"{t['cache_read_tokens']:>16,}{t['cost_usd']:>14}")


@abacus_cli.command("demo")
@click.option("--people", default=25, show_default=True)
@click.option("--days", default=90, show_default=True)
@click.option("--seed", default=7, show_default=True, help="Same seed, same data.")
def demo_command(people: int, days: int, seed: int) -> None:
    """Seed realistic synthetic usage into an account named `demo` (re-runnable)."""
    from .demo import seed_demo

    result = seed_demo(people=people, days=days, seed=seed)
    click.echo(f"demo: {result.total:,} events ({result.inserted:,} new, "
               f"{result.updated:,} updated, {result.unchanged:,} unchanged)")


@rollups_cli.command("rebuild")
def rollups_rebuild_command() -> None:
    """Recompute event days in ABACUS_TIMEZONE and every daily rollup."""
    from .extensions import db
    from .ingest import rebuild_rollups

    n = rebuild_rollups()
    db.session.commit()
    click.echo(f"rebuilt rollups for {n} account(s)")
