"""The rows of an uploaded CSV with a fixed header (team memberships, seat assignments): one
home for the rule both follow: data rows are numbered from 2, blank rows are skipped, a row
with the wrong number of fields is a problem naming the file and row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def fixed_rows(reader: Iterable[list[str]], width: int, name: str,
               problems: list[str]) -> Iterator[tuple[str, int, list[str]]]:
    """(where, row number, stripped cells) of every non-blank row of `reader` (positioned
    after the header) with exactly `width` fields; a row with another count is added to
    `problems` as "`name` row N: …" and skipped."""
    for n, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        where = f"{name} row {n}"
        if len(raw) != width:
            problems.append(f"{where}: {len(raw)} fields, expected {width}")
            continue
        yield where, n, [cell.strip() for cell in raw]
