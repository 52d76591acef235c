"""What the commands share: day options and progress bars (tqdm, silent off a terminal)."""

from __future__ import annotations

import sys
from datetime import date

import click


def bytes_bar(label: str):
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


def counting_bar(label: str, unit: str = "day", noun: str = "records"):
    """A tqdm bar of steps (days, repositories) with what the current one is and a count of
    what was stored; silent when output is not a terminal."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit=unit, desc=label, disable=None, leave=False, file=sys.stderr)

    def update(done: int, total: int, count: int, current: str) -> None:
        if bar.disable:
            return
        bar.total, bar.n = total, done
        bar.set_postfix_str(f"{current}, {count:,} {noun}", refresh=False)
        bar.refresh()

    return bar, update


def day_option(value: str | None, flag: str):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}",
                                 param_hint=flag) from None
