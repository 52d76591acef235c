"""The `flask abacus` group and its commands (GitHub's are in `cli.github`): thin wrappers
over service functions."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from .common import bytes_bar, counting_bar, day_option

abacus_cli = AppGroup("abacus", help="Abacus commands.")
import_cli = AppGroup("import", help="Import usage exports.")
rollups_cli = AppGroup("rollups", help="Maintain the daily rollups.")
models_cli = AppGroup("models", help="Model names of stored usage.")
abacus_cli.add_command(import_cli)
abacus_cli.add_command(rollups_cli)
abacus_cli.add_command(models_cli)


def init_app(app: Flask) -> None:
    from .budgets import alerts_cli, budgets_cli, incidents_cli
    from .github import github_cli
    from .pricing import pricing_cli
    from .seats import seats_cli
    from .teams import chargeback_command, teams_cli
    from .telemetry import ingest_tokens_cli
    from .tokens import api_tokens_cli

    for group in (budgets_cli, alerts_cli, incidents_cli):
        abacus_cli.add_command(group)
    abacus_cli.add_command(github_cli)
    abacus_cli.add_command(pricing_cli)
    abacus_cli.add_command(seats_cli)
    abacus_cli.add_command(api_tokens_cli)
    abacus_cli.add_command(teams_cli)
    abacus_cli.add_command(chargeback_command)
    abacus_cli.add_command(ingest_tokens_cli)
    app.cli.add_command(abacus_cli)


@import_cli.command("cursor-csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_name", metavar="NAME",
              help="Cursor account the export belongs to (default: the only Cursor account, "
                   "else 'cursor-csv').")
@click.option("--user", metavar="EMAIL",
              help="Person a personal export (no User column) belongs to.")
@click.option("--skip-invalid", is_flag=True,
              help="Store the good rows and report the bad ones instead of refusing the file.")
@click.option("--allow-before", "allow_before", metavar="DAY",
              type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Accept rows back to DAY (YYYY-MM-DD), before ABACUS_IMPORT_EARLIEST.")
def import_cursor_csv_command(file: Path, account_name: str | None, user: str | None,
                              skip_invalid: bool, allow_before: datetime | None) -> None:
    """Import a Cursor usage export (Dashboard → Usage → Export CSV)."""
    from ..usage.imports import ImportFailed, import_cursor_csv

    bar, update = bytes_bar(file.name)
    try:
        report = import_cursor_csv(file, account_name=account_name, user=user,
                                   skip_invalid=skip_invalid, progress=update,
                                   earliest=allow_before.date() if allow_before else None)
    except ImportFailed as exc:
        bar.close()
        for line in exc.report.problem_lines():
            click.echo(line, err=True)
        raise click.ClickException(exc.report.summary()) from None
    except ValueError as exc:
        bar.close()
        raise click.ClickException(str(exc)) from None
    bar.close()
    _after_usage_change(report.result.inserted + report.result.updated)
    click.echo(report.summary())
    for line in report.problem_lines():
        click.echo(f"  skipped: {line}")
    for note in report.notes:
        click.echo(f"  note: {note}")
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
    from ..analytics.commits import lifetime_commits
    from ..analytics.overview import lifetime_stats

    stats = {**lifetime_stats(), "commits": lifetime_commits()}
    if as_json:
        click.echo(json.dumps(stats))
        return
    click.echo(f"events {stats['events']:,}  people {stats['people']:,}  "
               f"days {stats['first_day'] or '-'} .. {stats['last_day'] or '-'}")
    header = f"{'tool':<14}{'events':>12}{'input':>16}{'output':>14}{'cache write':>16}" \
             f"{'cache read':>16}{'cost USD':>14}{'unpriced':>10}{'not charged':>13}"
    click.echo(header)
    for tool, t in stats["tools"].items():
        click.echo(f"{tool:<14}{t['events']:>12,}{t['input_tokens']:>16,}"
                   f"{t['output_tokens']:>14,}{t['cache_write_tokens']:>16,}"
                   f"{t['cache_read_tokens']:>16,}{t['cost_usd']:>14}"
                   f"{t['unpriced_events']:>10,}{t['not_charged_events']:>13,}")
    click.echo("cost USD: charged (as reported) or estimated; unpriced events are not in it, "
               "not-charged events count $0")
    c = stats["commits"]
    tools = ", ".join(f"{tool} {n:,}" for tool, n in c["by_tool"].items() if n)
    click.echo(f"commits {c['total']:,}  AI-attributed {c['ai_attributed']:,}"
               + (f"  ({tools})" if tools else ""))


@abacus_cli.command("demo")
@click.option("--people", default=25, show_default=True)
@click.option("--days", default=90, show_default=True)
@click.option("--seed", default=7, show_default=True, help="Same seed, same data.")
def demo_command(people: int, days: int, seed: int) -> None:
    """Seed realistic synthetic usage into an account named `demo`, and commits (re-runnable)."""
    from ..demo.seed import seed_demo, seed_demo_commits

    result = seed_demo(people=people, days=days, seed=seed)
    click.echo(f"demo: {result.total:,} events ({result.inserted:,} new, "
               f"{result.updated:,} updated, {result.unchanged:,} unchanged)")
    commits = seed_demo_commits(people=people, days=days, seed=seed)
    click.echo(f"demo: {commits:,} new commits in 4 repositories")


@rollups_cli.command("rebuild")
def rollups_rebuild_command() -> None:
    """Recompute event days in ABACUS_TIMEZONE and every daily rollup."""
    from ..extensions import db
    from ..usage.ingest import rebuild_rollups

    n = rebuild_rollups()
    db.session.commit()
    click.echo(f"rebuilt rollups for {n} account(s)")


@models_cli.command("recanonicalize")
def models_recanonicalize_command() -> None:
    """Re-derive stored events' models from their raw names after an upgrade (re-runnable)."""
    from ..extensions import db
    from ..usage.ingest import recanonicalize_models

    result = recanonicalize_models()
    db.session.commit()
    for (old, new), n in result.renamed.items():
        click.echo(f"{old} -> {new}: {n:,} event(s)")
    click.echo(f"{result.events:,} event(s) renamed, {result.reestimated:,} re-priced, "
               f"{result.days_refreshed:,} day rollup(s) rebuilt")


# --- accounts, sync, backfill, mappings, status -------------------------------------------

accounts_cli = AppGroup("accounts", help="Provider accounts (credentials are stored encrypted).")
mappings_cli = AppGroup("mappings", help="Who is behind API keys and member ids.")
abacus_cli.add_command(accounts_cli)
abacus_cli.add_command(mappings_cli)

def _source_names() -> list[str]:
    from ..providers import BUILTINS

    return sorted(pid.replace("_", "-") for pid in BUILTINS)


SOURCES = click.Choice(_source_names(), case_sensitive=False)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@contextmanager
def _account_errors() -> Iterator[None]:
    """An AccountError (unknown account, refused input) ends the command with its message."""
    from ..sync.accounts import AccountError

    try:
        yield
    except AccountError as exc:
        raise _fail(exc) from None


def _bootstrap_env_accounts() -> None:
    """A one-off command sees the accounts named in the environment, as the worker does."""
    from ..sync.accounts import ensure_env_accounts

    with _account_errors():
        ensure_env_accounts()


def _read_secret(path: str | None, label: str) -> str:
    """A secret from a file (`-` = stdin) or a hidden prompt; never from the command line."""
    if path == "-":
        return sys.stdin.read().strip()
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise click.ClickException(f"{path}: {exc.strerror}") from None
    return click.prompt(label, hide_input=True).strip()


def _credentials_for(provider_id: str, secret_path: str | None) -> dict[str, str]:
    from ..providers import get_provider

    provider = get_provider(provider_id)
    creds = {f.name: _read_secret(secret_path, f.label) for f in provider.credential_fields}
    return provider.prepare_credentials(creds)


def _account_settings(proxy: str | None, base_url: str | None, email: str | None,
                      **extra: str | None) -> dict:
    """Settings from `accounts add` options; `extra` are provider-specific ones by name."""
    return {k: v for k, v in (("proxy_url", proxy), ("base_url", base_url),
                              ("owner_email", email.lower() if email else None),
                              *extra.items()) if v}


@accounts_cli.command("list")
def accounts_list_command() -> None:
    """Accounts with their state (never their credentials)."""
    from ..sync.engine import status_report

    _bootstrap_env_accounts()
    rows = status_report()
    if not rows:
        click.echo("no accounts yet: set ANTHROPIC_ADMIN_KEYS / CURSOR_ADMIN_KEYS / "
                   "COPILOT_ACCOUNTS, OPENROUTER_MANAGEMENT_KEYS or `flask abacus accounts add`")
    for r in rows:
        click.echo(f"{r['provider']:<15}{r['name']:<28}{r['status']:<14}"
                   f"last success {r['last_success_at'] or '-'}")


@accounts_cli.command("add")
@click.argument("provider", type=SOURCES)
@click.option("--name", required=True, help="Stable name for the account.")
@click.option("--key-file", "key_file", metavar="FILE",
              help="File holding the API key (`-` reads stdin). Prompted when omitted.")
@click.option("--cookie-file", "cookie_file", metavar="FILE",
              help="cursor-session: file holding the WorkosCursorSessionToken cookie (the "
                   "value, the name=value pair or a whole Cookie: header).")
@click.option("--proxy", metavar="URL", help="HTTP(S) proxy for this account's requests.")
@click.option("--base-url", metavar="URL", help="Override the provider's base URL.")
@click.option("--email", metavar="EMAIL", help="cursor-session: who owns the seat.")
@click.option("--org", metavar="ORG", help="copilot: the GitHub organization to read.")
@click.option("--enterprise", metavar="SLUG",
              help="copilot: the GitHub enterprise to read (instead of --org).")
@click.option("--workspace", metavar="ID",
              help="codex: the ChatGPT workspace id (admin console → workspace settings).")
@click.option("--usd-per-credit", "usd_per_credit", metavar="X",
              help="codex: dollars per Codex credit (default 0.04, i.e. 25 credits = $1).")
def accounts_add_command(provider: str, name: str, key_file: str | None,
                         cookie_file: str | None, proxy: str | None, base_url: str | None,
                         email: str | None, org: str | None, enterprise: str | None,
                         workspace: str | None, usd_per_credit: str | None) -> None:
    """Add an account: `accounts add cursor-session --name N --cookie-file F`,
    `accounts add copilot --name N --org ORG [--key-file F]`."""
    from ..extensions import db
    from ..providers import get_provider
    from ..sync.accounts import AccountError, add_account

    if provider == "copilot" and bool(org) == bool(enterprise):
        raise click.UsageError("copilot needs --org ORG or --enterprise SLUG (one of them)")
    if provider != "copilot" and (org or enterprise):
        raise click.UsageError("--org and --enterprise are for copilot accounts")
    with _account_errors():
        settings = _account_settings(proxy, base_url, email, org=org, enterprise=enterprise,
                                     workspace_id=workspace, usd_per_credit=usd_per_credit)
        # Settings are checked before the key is asked for: a missing workspace id is
        # reported without typing the secret first.
        problems = get_provider(provider).check_settings(settings)
        if problems:
            raise AccountError(f"account {name!r}: " + "; ".join(problems))
        creds = _credentials_for(provider, cookie_file or key_file)
        account = add_account(provider, name, creds, settings)
        db.session.commit()
    click.echo(f"added {account.provider} account {account.name!r}")


@accounts_cli.command("set-credentials")
@click.argument("name")
@click.option("--key-file", "key_file", metavar="FILE")
@click.option("--cookie-file", "cookie_file", metavar="FILE")
def accounts_set_credentials_command(name: str, key_file: str | None,
                                     cookie_file: str | None) -> None:
    """Replace an account's credentials (an account parked for refused ones resumes)."""
    from ..extensions import db
    from ..sync.accounts import find_account, set_credentials

    with _account_errors():
        account = find_account(name)
        set_credentials(account, _credentials_for(account.provider, cookie_file or key_file))
        db.session.commit()
    click.echo(f"credentials of {name!r} replaced; status {account.status}")


@accounts_cli.command("exclude")
@click.argument("name")
@click.argument("entries", nargs=-1)
@click.option("--remove", is_flag=True, help="Count these entries again.")
def accounts_exclude_command(name: str, entries: tuple[str, ...], remove: bool) -> None:
    """Leave usage of key hashes, member ids or e-mails out of totals (kept as raw data);
    no ENTRIES: list them. E.g. an OpenRouter key a tool routes through that is already
    counted from the tool's own source."""
    from ..extensions import db
    from ..sync.accounts import find_account, parse_excluded, set_excluded

    with _account_errors():
        account = find_account(name)
        current = list((account.settings or {}).get("excluded") or [])
        if entries:
            given = parse_excluded(list(entries))
            wanted = [e for e in current if e not in given] if remove else current + given
            set_excluded(account, wanted)
            db.session.commit()
    listed = (account.settings or {}).get("excluded") or []
    click.echo(f"{name}: excluded from totals: {', '.join(listed) if listed else 'nothing'}")


def _set_enabled(name: str, enabled: bool) -> None:
    from ..extensions import db
    from ..sync.accounts import find_account, set_enabled

    with _account_errors():
        account = find_account(name)
    set_enabled(account, enabled)
    db.session.commit()
    click.echo(f"{name}: {account.status}")


@accounts_cli.command("disable")
@click.argument("name")
def accounts_disable_command(name: str) -> None:
    """Stop syncing an account (its data stays)."""
    _set_enabled(name, False)


@accounts_cli.command("enable")
@click.argument("name")
def accounts_enable_command(name: str) -> None:
    """Resume syncing a disabled account."""
    _set_enabled(name, True)


@accounts_cli.command("rotate-key")
def accounts_rotate_key_command() -> None:
    """Re-encrypt all credentials with the first key of ABACUS_ENCRYPTION_KEY."""
    from ..extensions import db
    from ..sync.accounts import rotate_credentials

    with _account_errors():
        n = rotate_credentials()
    db.session.commit()
    click.echo(f"{n} account(s) re-encrypted with the first ABACUS_ENCRYPTION_KEY; older keys "
               "can now be removed")


def _accounts_or_fail(source: str | None, name: str | None):
    from ..sync.engine import selected_accounts

    with _account_errors():
        accounts = selected_accounts(source, name, bootstrap=True)
    if not accounts:
        what = f"account {name!r}" if name else f"{source or 'any'} account with credentials"
        raise click.ClickException(f"no {what} to sync")
    return accounts


def _after_usage_change(changed_rows: int) -> None:
    from ..budgets.runs import after_usage_change

    out = after_usage_change(changed_rows)
    for line in (out or {}).get("sent", []):
        click.echo(f"  budget alert sent: {line}")


def _report(outcomes) -> None:
    _after_usage_change(sum(o.inserted + o.updated for o in outcomes))
    for o in outcomes:
        click.echo(o.summary())
    if any(o.status in ("failed", "partial", "interrupted") for o in outcomes):
        sys.exit(1)


@abacus_cli.command("sync")
@click.argument("source", type=SOURCES, required=False)
@click.option("--account", "name", metavar="NAME", help="Only this account.")
@click.option("--days", type=click.IntRange(1, 3650), help="Re-fetch the last N days.")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="Re-fetch from this day…")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="…to this day (default today).")
def sync_command(source: str | None, name: str | None, days: int | None, first: str | None,
                 last: str | None) -> None:
    """Sync now, in the foreground (no SOURCE: every account). Same code as the scheduler."""
    from datetime import UTC, datetime, timedelta

    from ..sync.engine import sync_account

    first_day, last_day = day_option(first, "--from"), day_option(last, "--to")
    if days and (first_day or last_day):
        raise click.UsageError("use --days or --from/--to, not both")
    if last_day and not first_day:
        raise click.UsageError("--to needs --from")
    if days:
        first_day = datetime.now(UTC).date() - timedelta(days=days - 1)
    if first_day and last_day and last_day < first_day:
        raise click.UsageError("--to is before --from")
    outcomes = []
    for account in _accounts_or_fail(source, name):
        bar, update = counting_bar(f"{account.provider}/{account.name}")
        outcomes.append(sync_account(account.id, first=first_day, last=last_day,
                                     progress=update))
        bar.close()
    _report(outcomes)


@abacus_cli.command("backfill")
@click.argument("source", type=SOURCES)
@click.option("--account", "name", metavar="NAME")
@click.option("--from", "first", metavar="YYYY-MM-DD",
              help="Oldest day to reach (default ABACUS_BACKFILL_FROM; given explicitly, the "
                   "walk does not stop early at empty days).")
@click.option("--to", "last", metavar="YYYY-MM-DD",
              help="Newest day to fetch; days before the already covered range only.")
def backfill_command(source: str, name: str | None, first: str | None,
                     last: str | None) -> None:
    """Fill history backwards, resumably, in the foreground."""
    from ..sync.engine import backfill_account, sync_account

    first_day, last_day = day_option(first, "--from"), day_option(last, "--to")
    outcomes = []
    for account in _accounts_or_fail(source, name):
        bar, update = counting_bar(f"{account.provider}/{account.name} backfill")
        if last_day:  # an explicit closed range: fetch it, leave the resume point alone
            if not first_day:
                raise click.UsageError("--to needs --from")
            outcomes.append(sync_account(account.id, first=first_day, last=last_day,
                                         progress=update))
        else:
            outcomes.append(backfill_account(account.id, target=first_day, progress=update))
        bar.close()
    _report(outcomes)


@abacus_cli.command("backfill-complete")
@click.argument("source", type=SOURCES)
@click.option("--account", "name", metavar="NAME")
def backfill_complete_command(source: str, name: str | None) -> None:
    """Mark backfills done (the scheduler stops walking back)."""
    from ..sync.engine import set_backfill

    click.echo(f"{set_backfill(source, 'complete', name)} account(s) marked complete")


@abacus_cli.command("backfill-reset")
@click.argument("source", type=SOURCES)
@click.option("--account", "name", metavar="NAME")
def backfill_reset_command(source: str, name: str | None) -> None:
    """Start backfills over (from the newest covered day back to the target)."""
    from ..sync.engine import set_backfill

    click.echo(f"{set_backfill(source, 'pending', name)} account(s) reset")


@abacus_cli.command("gaps")
@click.argument("source", type=SOURCES, required=False)
def gaps_command(source: str | None) -> None:
    """Days without usage inside each account's synced range."""
    from ..sync.engine import gaps

    found = gaps(source)
    if not found:
        click.echo("no gaps")
    for g in found:
        span = g.first.isoformat() if g.days == 1 else f"{g.first} .. {g.last}"
        click.echo(f"{g.provider}/{g.account}: {span} ({g.days} day(s) without usage)")


@mappings_cli.command("list")
@click.argument("source", type=SOURCES, required=False)
def mappings_list_command(source: str | None) -> None:
    """Known identities, then the unmapped ones (usage kept under their own name)."""
    from ..people.identities import mappings, unmapped

    provider = source.replace("-", "_") if source else None
    for m in mappings(provider):
        click.echo(f"{m.source:<15}{m.external_id:<40}{m.email:<36}{m.assigned_by or ''}")
    for u in unmapped(provider):
        click.echo(f"{u.provider:<15}{u.actor:<40}{'(unmapped)':<36}{u.events} event(s)")


@mappings_cli.command("sync")
@click.argument("source", type=SOURCES, required=False)
def mappings_sync_command(source: str | None) -> None:
    """Re-read API keys / members from the providers and re-attribute past usage."""
    from ..providers.base import ProviderError
    from ..sync.engine import refresh_identities, selected_accounts

    failed = False
    for account in selected_accounts(source, bootstrap=True):
        try:
            n = refresh_identities(account)
        except ProviderError as exc:
            click.echo(f"{account.provider}/{account.name}: {exc}", err=True)
            failed = True
            continue
        click.echo(f"{account.provider}/{account.name}: {n} mapping(s) added or changed")
    if failed:
        sys.exit(1)


@mappings_cli.command("assign")
@click.argument("external_id")
@click.argument("email")
@click.option("--source", type=SOURCES, default="anthropic", show_default=True)
def mappings_assign_command(external_id: str, email: str, source: str) -> None:
    """Map an identity (e.g. an API key name) to a person; past usage follows."""
    from ..extensions import db
    from ..people.identities import assign

    try:
        n = assign(source.replace("-", "_"), external_id, email, assigned_by="cli")
    except ValueError as exc:
        raise _fail(exc) from None
    db.session.commit()
    click.echo(f"{external_id} → {email.lower()}; {n} event(s) re-attributed")


@abacus_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(as_json: bool) -> None:
    """Every account: state, last success, last error, backfill, limits and invoices."""
    from ..sync.engine import status_report

    _bootstrap_env_accounts()
    rows = status_report()
    if as_json:
        keys = ("provider", "name", "tool", "status", "last_success_at", "last_error",
                "backfill", "synced_through", "next_attempt_at", "details")
        click.echo(json.dumps({"accounts": [{k: r[k] for k in keys} for r in rows]},
                              default=str))
        return
    if not rows:
        click.echo("no accounts")
    for r in rows:
        click.echo(f"{r['provider']}/{r['name']} ({r['tool']}): {r['status']}; "
                   f"last success {r['last_success_at'] or 'never'}; backfill {r['backfill']}"
                   + (f" (oldest day {r['backfill_oldest_day']})"
                      if r['backfill_oldest_day'] else ""))
        if r["last_error"]:
            click.echo(f"  error: {r['last_error']}")
        if r["next_attempt_at"] and r["status"] == "rate_limited":
            click.echo(f"  next try after {r['next_attempt_at']}")
        for key, data in r["details"].items():
            click.echo(f"  {key}: {_describe(data)}")


def _describe(data: dict) -> str:
    """One line per snapshot: its scalar fields."""
    parts = [f"{k}={v}" for k, v in data.items()
             if not isinstance(v, dict | list) and v is not None]
    return ", ".join(parts)[:300]
