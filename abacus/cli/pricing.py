"""`flask abacus pricing show|update`: thin over usage.prices and usage.price_updates."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ..extensions import db
from ..providers.base import ProviderError
from ..usage.price_updates import PriceChange, update_prices
from ..usage.prices import org_today, price_on
from ..usage.pricing import FAR_PAST, Price, canonical_model

pricing_cli = AppGroup("pricing", help="Model prices: what is in force, and updates.")

RATE_NAMES = (("input", "input"), ("output", "output"), ("cache_read", "cache_read"),
              ("cache_write_5m", "cache_write"), ("cache_write_1h", "write_1h"))
LONG_NAMES = (("input", 0), ("output", 1), ("cache_write_5m", 2), ("cache_write_1h", 3),
              ("cache_read", 4))


def _num(value: Decimal | None) -> str:
    return "none" if value is None else format(value.normalize(), "f")


def price_json(model: str, day: date, price: Price) -> dict[str, Any]:
    """The documented `pricing show --json` shape: USD per 1M tokens as decimal strings."""
    out: dict[str, Any] = {"model": model, "on": day.isoformat(), "unit": "USD per 1M tokens"}
    out.update({name: _num(getattr(price, attr)) for name, attr in RATE_NAMES})
    rates = price.rates()
    if rates.long is not None:
        out["long_context"] = {"above_input_tokens": rates.threshold,
                               **{n: _num(rates.long[i]) for n, i in LONG_NAMES}}
    if price.fast_multiplier is not None:
        out["fast_multiplier"] = _num(price.fast_multiplier)
    out["source"] = price.source
    out["valid_from"] = price.valid_from.isoformat()
    return out


def _valid_from(price: Price) -> str:
    return "always" if price.valid_from <= FAR_PAST else price.valid_from.isoformat()


@pricing_cli.command("show")
@click.argument("model")
@click.option("--on", "on", metavar="YYYY-MM-DD", default=None,
              help="The day whose price to show (default: today in ABACUS_TIMEZONE).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def pricing_show_command(model: str, on: str | None, as_json: bool) -> None:
    """The price MODEL (any spelling) has on a day, in USD per 1M tokens."""
    try:
        day = date.fromisoformat(on) if on else org_today()
    except ValueError:
        raise click.BadParameter(f"“{on}” is not a day; write it as YYYY-MM-DD.",
                                 param_hint="'--on'") from None
    name = canonical_model(model)
    price = price_on(name, day)
    if price is None:
        raise click.ClickException(f"no price for {name} on {day.isoformat()}"
                                   + (f" (from “{model}”)" if name != model else ""))
    data = price_json(name, day, price)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{name} on {day.isoformat()}: {price.source} price, valid from "
               f"{_valid_from(price)} (USD per 1M tokens)")
    for key, _ in RATE_NAMES:
        click.echo(f"  {key:<15} ${data[key]}")
    if "long_context" in data:
        long = data["long_context"]
        click.echo(f"  above {long['above_input_tokens']:,} input tokens per request: "
                   + ", ".join(f"{k} ${long[k]}" for k, _ in LONG_NAMES))
    if "fast_multiplier" in data:
        click.echo(f"  fast / priority mode: x{data['fast_multiplier']}")


def _rates(p: Price) -> str:
    return (f"input ${_num(p.input)}, output ${_num(p.output)}, cache read ${_num(p.cache_read)}"
            f", cache write ${_num(p.cache_write)} (1h ${_num(p.write_1h)})"
            + (f", >{p.long_threshold:,} tokens input ${_num(p.long_input)}"
               if p.long_threshold and p.long_input is not None else "")
            + (f", fast x{_num(p.fast_multiplier)}" if p.fast_multiplier else ""))


def _change_line(kind: str, c: PriceChange) -> str:
    line = f"  {kind:<8} {c.model:<32} "
    line += _rates(c.new) if c.old is None else f"{_rates(c.old)}  ->  {_rates(c.new)}"
    return line + ("  [override in force: estimates keep it]" if c.override else "")


@pricing_cli.command("update")
@click.option("--url", default=None, metavar="URL",
              help="LiteLLM-format price JSON (default: ABACUS_PRICING_URL).")
@click.option("--dry-run", is_flag=True, help="Show what would change; store nothing.")
def pricing_update_command(url: str | None, dry_run: bool) -> None:
    """Read LiteLLM's price table, show new models and changed prices, and store them in
    force from today (earlier days keep their prices and estimates)."""
    try:
        report = update_prices(url or current_app.config["ABACUS"].pricing_url, dry_run)
    except ProviderError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc}; nothing was stored") from None
    click.echo(f"Prices from {report.url}: {len(report.new)} new model(s), "
               f"{len(report.changed)} changed price(s), against the prices in force on "
               f"{report.day.isoformat()}.")
    for change in report.new:
        click.echo(_change_line("new", change))
    for change in report.changed:
        click.echo(_change_line("changed", change))
    for skipped in report.skipped:
        click.echo(f"  skipped  {skipped}")
    if dry_run:
        click.echo("Dry run: nothing stored.")
        return
    db.session.commit()
    if not report.stored:
        click.echo("Nothing to store: every price is current.")
        return
    click.echo(f"Stored {report.stored} price(s) in force from {report.day.isoformat()}; "
               f"re-estimated {report.events:,} event(s) on {report.days:,} day(s) from "
               f"{report.day.isoformat()} (earlier days keep their estimates).")
