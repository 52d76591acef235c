"""The team scope every page takes: `?team=<id or name>` (its subtree included).

Links keep it like the time range (it rides in `TimeRange.args`, so `rng.args` and
`range_args()` carry it); an unknown team is a 400 naming the parameter. The page header's
team selector lists the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, request

from ..analytics.scope import subtree_ids
from ..teams.tree import TeamRow, find_team, team_rows
from ..usage.prices import org_today
from . import params

# Pages that take ?team= (their blueprint's endpoints show the selector).
SCOPED = ("dashboard.index", "team.index", "usage.index", "commits.index", "seats.index")


@dataclass(frozen=True)
class TeamScope:
    id: int
    name: str
    ids: list[int]  # the team and every team below it


def current_team() -> TeamScope | None:
    """The request's team scope (None: everyone); 400 for a team that does not exist."""
    if "team_scope" in g:
        return g.team_scope
    raw = params.text("team")
    scope = None
    if raw:
        team = find_team(raw)
        if team is None:
            raise params.BadParameter("team", f"must be a team's id or name; there is no "
                                              f"team “{raw}”")
        scope = TeamScope(team.id, team.name, subtree_ids([team.id]))
    g.team_scope = scope
    return scope


def tree_rows() -> list[TeamRow]:
    """Every team in tree order with today's members, read once per request (the header's
    selector and the by-team page both list them)."""
    if "team_tree_rows" not in g:
        g.team_tree_rows = team_rows(org_today())
    return g.team_tree_rows


def team_ids() -> list[int] | None:
    scope = current_team()
    return scope.ids if scope else None


def init_app(app: Flask) -> None:
    @app.context_processor
    def _team_selector() -> dict:
        def team_selector() -> dict | None:
            """The selector's teams (tree order, indented) and the other params to keep, on
            the pages that take a scope and once teams exist."""
            if request.endpoint not in SCOPED:
                return None
            teams = tree_rows()
            if not teams:
                return None
            try:
                scope = current_team()
            except params.BadParameter:
                scope = None
            keep = [(k, v) for k, v in request.args.items(multi=True)
                    if k not in ("team", "page")]
            return {"teams": teams, "current": scope.id if scope else None, "keep": keep,
                    "action": request.path}

        return {"team_selector": team_selector}
