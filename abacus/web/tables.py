"""The URL state every sortable, paged table shares (Team, Commits): sort, direction, chosen
columns and page next to the time range, and links that change one part of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

from . import params


@dataclass(frozen=True)
class TableState:
    range_args: Mapping[str, str | int]
    sort: str = ""
    descending: bool = True
    cols: tuple[str, ...] | None = None  # None: the table's default columns
    page: int = 1

    DEFAULT_SORT: ClassVar[str] = ""
    ASCENDING_SORT: ClassVar[str] = ""  # the name column: A→Z unless ?dir= says otherwise

    @classmethod
    def from_args(cls, args, range_args: Mapping[str, str | int],
                  cols: tuple[str, ...] | None, **extra: Any) -> Self:
        """Sort, direction and page from the URL; without ?dir= a column's natural direction
        (A→Z for the name column, biggest first for the rest)."""
        sort = params.text("sort", args=args) or cls.DEFAULT_SORT
        direction = params.text("dir", args=args)
        return cls(range_args=range_args, sort=sort,
                   descending=direction == "desc" if direction in ("asc", "desc")
                   else sort != cls.ASCENDING_SORT,
                   cols=cols, page=params.page(args=args), **extra)

    def own_args(self) -> dict[str, str | int]:
        """Arguments a table adds ahead of the shared ones (a filter, say)."""
        return {}

    def url_args(self, **changes: Any) -> dict[str, str | int]:
        """Query arguments for a link: the range plus what differs from the defaults."""
        s = replace(self, **changes)
        out: dict[str, str | int] = {**s.range_args, **s.own_args()}
        if not (s.sort == self.DEFAULT_SORT and s.descending):
            out["sort"] = s.sort
            out["dir"] = "desc" if s.descending else "asc"
        if s.cols is not None:
            out["cols"] = ",".join(s.cols)
        if s.page > 1:
            out["page"] = s.page
        return out

    def extra_args(self) -> dict[str, str | int]:
        """What the range picker keeps when the range changes (back to the first page)."""
        return {k: v for k, v in self.url_args(page=1).items() if k not in self.range_args}

    def sort_link_args(self, column: Any) -> dict[str, str | int]:
        """The current sort column flips direction; another starts in its natural one."""
        descending = (not self.descending if column.key == self.sort
                      else column.default_descending)
        return self.url_args(sort=column.key, descending=descending, page=1)
