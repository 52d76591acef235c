"""Commits `/commits` (AI-attributed share, per tool, per repository; CSV of the table) and
repository pages `/repositories/<source>/<owner>/<repo>` (cards, daily chart, commit list).

The table's state (`sort`, `dir`, `cols`, `page`) and the commit list's (`filter`, `page`)
live in the URL next to the range, so every view can be shared and exported as is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..analytics import commits as analytics
from ..analytics.commits import REPO_COLUMNS, RepoColumn, RepoTable
from . import exports, htmx, params
from .access import is_admin, visible_people
from .charts import Series, StackedChart, stacked_columns
from .filters import tool_label
from .ranges import TimeRange, current_range
from .tables import TableState
from .teamscope import team_ids

bp = Blueprint("commits", __name__)

OPTIONAL_COLUMNS = tuple(c.key for c in REPO_COLUMNS[1:])  # "repo" is always shown


@dataclass(frozen=True)
class TableArgs(TableState):
    """The repository table's state from the URL, and links that change one part of it."""

    DEFAULT_SORT: ClassVar[str] = analytics.DEFAULT_REPO_SORT
    ASCENDING_SORT: ClassVar[str] = "repo"

    @classmethod
    def parse(cls, args, rng: TimeRange) -> TableArgs:
        cols = None
        if "cols" in args:  # present but empty (every box unticked): the repository alone
            wanted = {k.strip() for raw in args.getlist("cols") for k in raw.split(",")}
            cols = tuple(k for k in OPTIONAL_COLUMNS if k in wanted)  # table order
        return cls.from_args(args, rng.args, None if cols == OPTIONAL_COLUMNS else cols)

    def shown(self) -> list[RepoColumn]:
        wanted = set(OPTIONAL_COLUMNS if self.cols is None else self.cols)
        return [REPO_COLUMNS[0], *(c for c in REPO_COLUMNS[1:] if c.key in wanted)]


def _tz() -> str:
    return current_app.config["ABACUS"].timezone


def _table(rng: TimeRange, per_page: int | None = analytics.PER_PAGE
           ) -> tuple[TableArgs, RepoTable]:
    state = TableArgs.parse(request.args, rng)
    table = analytics.repository_table(rng.start, rng.end, _tz(), sort=state.sort,
                                       descending=state.descending, page=state.page,
                                       per_page=per_page, team=team_ids())
    # What the query settled on: an unknown sort falls back, a page past the end moves back.
    return replace(state, sort=table.sort, descending=table.descending, page=table.page), table


@bp.get("/commits")
def index() -> ResponseReturnValue:
    rng = current_range()
    state, table = _table(rng)
    tz = _tz()
    prev_range = rng.previous()
    team = team_ids()
    current = analytics.commit_totals(rng.start, rng.end, tz, team=team)
    context = {
        "rng": rng, "state": state, "table": table, "shown": state.shown(), "totals": current,
        "table_columns": REPO_COLUMNS[1:],
        "prev": analytics.commit_totals(prev_range.start, prev_range.end, tz, team=team),
        "prev_range": prev_range,
        "by_tool": analytics.tool_counts(rng.start, rng.end, tz,
                                         ai_commits=current.ai_commits, team=team),
        "any_commits": current.commits > 0 or analytics.has_commits(),
        "is_admin": is_admin(), "timezone": tz,
    }
    response = Response(htmx.render("commits/index.html", "commits/fragment.html", **context),
                        mimetype="text/html")
    if htmx.wants_fragment():
        # The address bar shows the tidy URL (`cols=a,b`, no defaults), not the raw form.
        response.headers["HX-Push-Url"] = url_for("commits.index", **state.url_args())
    return response


@bp.get("/commits/export.csv")
def export() -> ResponseReturnValue:
    """Every repository row (not only the page) with the columns shown, in the shared format."""
    rng = current_range()
    state, table = _table(rng, per_page=None)
    return exports.csv_response("commits", rng, export_fields(state.shown(), table),
                                table.rows, _tz())


# Export ids of the table's columns (README "Exports"); the tool split becomes one
# `<tool>_commits` column per tool found in the range.
EXPORT_IDS = {"repo": "repository", "ai_rate": "ai_rate_pct", "additions": "lines_added",
              "deletions": "lines_deleted", "last_commit": "last_commit_at"}
_ROW_FIELDS = {"repo": "full_name"}  # the RepoRow attribute behind a column, when not its key


def export_fields(columns: list[RepoColumn], table: RepoTable) -> list[exports.Field]:
    fields: list[exports.Field] = []
    for col in columns:
        if col.kind == "tools":
            fields += [exports.Field(exports.column_id(t, "commits"),
                                     lambda row, t=t: row.by_tool.get(t, 0))
                       for t in table.tools]
        else:
            # Line stats not known yet stay empty (unknown, not 0); the last commit is in
            # the org time zone, with its offset.
            attribute = _ROW_FIELDS.get(col.key, col.key)
            fields.append(exports.Field(EXPORT_IDS.get(col.key, col.key),
                                        lambda row, name=attribute: getattr(row, name)))
    return fields


# --- repository pages ----------------------------------------------------------------------

@bp.get("/repositories/<source>/<owner>/<name>")
def repository(source: str, owner: str, name: str) -> ResponseReturnValue:
    tz = _tz()
    repo = analytics.find_repository(source, f"{owner}/{name}", tz)
    if repo is None:
        return render_template("commits/not_found.html",
                               full_name=f"{owner}/{name}", source=source), 404
    if (repo.source, repo.full_name) != (source, f"{owner}/{name}"):  # other letter case
        args = {k: v for k, v in request.args.items() if k not in ("source", "owner", "name")}
        return redirect(url_for("commits.repository", source=repo.source, owner=repo.owner,
                                name=repo.name, **args), 301)
    rng = current_range()
    prev_range = rng.previous()
    kind = params.text("filter", "all")
    limit_to = visible_people(rng)
    commits = analytics.commit_list(rng.start, rng.end, tz, repository_id=repo.id,
                                    only_person=limit_to, kind=kind,
                                    page=params.page())
    endpoint_args = {"source": repo.source, "owner": repo.owner, "name": repo.name}
    list_args = {"filter": commits.kind if commits.kind != "all" else None}
    if htmx.wants_fragment():
        return render_template("commits/repository_fragment.html", repo=repo, rng=rng,
                               commits=commits, endpoint_args=endpoint_args,
                               list_args=list_args, own_only=limit_to is not None, timezone=tz)
    current = analytics.commit_totals(rng.start, rng.end, tz, repository_id=repo.id)
    return render_template(
        "commits/repository.html", repo=repo, rng=rng, timezone=tz, commits=commits,
        endpoint_args=endpoint_args, list_args=list_args, own_only=limit_to is not None,
        totals=current, prev_range=prev_range,
        prev=analytics.commit_totals(prev_range.start, prev_range.end, tz,
                                     repository_id=repo.id),
        by_tool=analytics.tool_counts(rng.start, rng.end, tz, repository_id=repo.id,
                                      ai_commits=current.ai_commits),
        chart=daily_chart(analytics.daily_commits(rng.start, rng.end, tz,
                                                  repository_id=repo.id)))


def daily_chart(daily: analytics.DailyCommits, title: str = "Daily commits") -> StackedChart:
    """Human at the bottom, then one series per primary tool: the stack is the day's total."""
    series = [Series(analytics.HUMAN, "Human", daily.human)]
    series += [Series(tool_key(t), tool_label(t), values) for t, values in daily.by_tool.items()]
    return stacked_columns(title, daily.days, series, unit="commits")


@bp.app_template_filter("tool_key")
def tool_key(tool: str) -> str:
    """The CSS suffix of a tool's colour (`series-…`): tools without one share "other"."""
    return tool if tool in analytics.known_tools() or tool == analytics.HUMAN else "other"


@bp.app_template_filter("commit_link")
def commit_link(c: analytics.CommitRow) -> str | None:
    """The commit on GitHub: its own URL, else one made from the repository's owner/name."""
    return analytics.commit_url(c.html_url, c.repository, c.sha,
                                current_app.config["ABACUS"].github_api_url)


@bp.app_template_filter("ai_rate_class")
def ai_rate_class(rate: float | int | None) -> str:
    """The CSS class of an "AI %" figure: highlighted from analytics.AI_RATE_HIGH up, the
    same threshold on every page."""
    return "rate-high" if rate is not None and rate >= analytics.AI_RATE_HIGH else ""
