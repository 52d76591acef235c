"""Admin → Teams `/admin/teams`: the team tree and manual edits (create, rename, move, cost
centre, leads, add/end memberships, archive or delete), and the sources: a team CSV upload,
GitHub teams and Cursor billing groups, each previewed (what would be added, moved, ended)
before it is applied. Admins only; every POST carries the CSRF token and answers with a 303
and a notice, or the page again with the problem and a 400. Thin over `abacus.teams`.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..extensions import db
from ..models import TEAM_SOURCES
from ..teams import tree
from ..teams.sources import (
    HEADER,
    Plan,
    SourceError,
    apply_plan,
    csv_plan,
    cursor_plan,
    github_plan,
    share_of,
)
from ..teams.tree import TeamError
from ..usage.prices import org_today
from .access import admin_required

bp = Blueprint("teams", __name__, url_prefix="/admin/teams")

MAX_CSV = 1_500_000  # under the 2 MB request limit with the form around it


@bp.before_request
@admin_required
def _admins_only() -> None:
    """Team edits and imports are admin actions."""


def _page(errors: list[str] | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("admin/teams.html", section="teams", rows=tree.team_rows(org_today()),
                           teams=tree.all_teams(), errors=errors or [],
                           header=",".join(HEADER)), status


@bp.get("")
def index() -> ResponseReturnValue:
    return _page()


def _team(team_id: int):
    team = tree.get_team(team_id)
    if team is None:
        abort(404)
    return team


def _parent(value: str | None):
    value = (value or "").strip()
    if not value:
        return None
    parent = tree.find_team(value)
    if parent is None:
        raise TeamError(f"there is no team “{value}” to put it under")
    return parent


def _day(value: str | None, what: str, *, required: bool) -> date | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise TeamError(f"{what}: give a day (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TeamError(f"{what}: “{value}” is not a day (YYYY-MM-DD)") from None


def _done(message: str, endpoint: str = "teams.index", **args) -> ResponseReturnValue:
    db.session.commit()
    flash(message, "ok")
    return redirect(url_for(endpoint, **args), code=303)


@bp.post("")
def create() -> ResponseReturnValue:
    form = request.form
    try:
        team = tree.create_team(form.get("name", ""), parent=_parent(form.get("parent")),
                                cost_centre=form.get("cost_centre"))
    except TeamError as exc:
        db.session.rollback()
        return _page([str(exc)], 400)
    return _done(f"Team “{team.name}” created.")


@bp.get("/<int:team_id>")
def team(team_id: int) -> ResponseReturnValue:
    return _team_page(_team(team_id))


def _team_page(team, errors: list[str] | None = None, status: int = 200
               ) -> ResponseReturnValue:
    return render_template("admin/team.html", section="teams", team=team,
                           teams=[t for t in tree.all_teams() if t.id != team.id],
                           members=tree.memberships_of(team), today=org_today(),
                           errors=errors or []), status


@bp.post("/<int:team_id>")
def update(team_id: int) -> ResponseReturnValue:
    team = _team(team_id)
    form = request.form
    try:
        if form.get("name", "").strip() and form["name"].strip() != team.name:
            tree.rename_team(team, form["name"])
        tree.set_parent(team, _parent(form.get("parent")))
        tree.set_cost_centre(team, form.get("cost_centre"))
    except TeamError as exc:
        db.session.rollback()
        return _team_page(_team(team_id), [str(exc)], 400)
    return _done(f"Team “{team.name}” saved.", "teams.team", team_id=team.id)


@bp.post("/<int:team_id>/archive")
def archive(team_id: int) -> ResponseReturnValue:
    team = _team(team_id)
    n = tree.archive_team(team, org_today())
    return _done(f"Team “{team.name}” archived: {n} membership(s) ended yesterday.",
                 "teams.team", team_id=team.id)


@bp.post("/<int:team_id>/delete")
def delete(team_id: int) -> ResponseReturnValue:
    team = _team(team_id)
    name = team.name
    try:
        tree.delete_team(team)
    except TeamError as exc:
        db.session.rollback()
        return _team_page(_team(team_id), [str(exc)], 400)
    return _done(f"Team “{name}” deleted.")


@bp.post("/<int:team_id>/members")
def add_member(team_id: int) -> ResponseReturnValue:
    team = _team(team_id)
    form = request.form
    try:
        m = tree.add_membership(team, form.get("email", ""),
                                _day(form.get("from"), "From", required=True),
                                _day(form.get("to"), "To", required=False),
                                lead=form.get("lead") == "yes",
                                share=share_of(form.get("share")))
    except TeamError as exc:
        db.session.rollback()
        return _team_page(_team(team_id), [str(exc)], 400)
    return _done(f"{m.person} added to “{team.name}” from {m.valid_from}.", "teams.team",
                 team_id=team.id)


@bp.post("/memberships/<int:membership_id>")
def change_member(membership_id: int) -> ResponseReturnValue:
    """End a membership on a day (removed when that is before it starts), or set its lead
    flag and share."""
    m = tree.get_membership(membership_id)
    if m is None:
        abort(404)
    team_id, form = m.team_id, request.form
    try:
        if form.get("action") == "end":
            last = _day(form.get("to"), "Last day", required=True)
            kept = tree.end_membership(m, last)
            message = f"Membership ended on {last}." if kept else "Membership removed."
        else:
            m.lead = form.get("lead") == "yes"
            m.share = share_of(form.get("share"))
            db.session.flush()
            message = "Membership saved."
    except TeamError as exc:
        db.session.rollback()
        return _team_page(_team(team_id), [str(exc)], 400)
    return _done(message, "teams.team", team_id=team_id)


# --- sources: preview, then apply ------------------------------------------------------------

def _preview(plan: Plan, apply_url: str, hidden: dict[str, str]) -> ResponseReturnValue:
    db.session.rollback()  # the preview changes nothing
    return render_template("admin/team_preview.html", section="teams", plan=plan,
                           apply_url=apply_url, hidden=hidden)


def _csv_text() -> tuple[str, str]:
    """(file name, text) of the upload, or of the text the preview carried back."""
    if "text" in request.form:
        return request.form.get("filename") or "teams.csv", request.form["text"]
    file = request.files.get("file")
    if file is None or not file.filename:
        raise SourceError(["Choose a team CSV file to upload."])
    raw = file.read(MAX_CSV + 1)
    if len(raw) > MAX_CSV:
        raise SourceError([f"{file.filename}: larger than {MAX_CSV:,} bytes"])
    try:
        return file.filename, raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError([f"{file.filename}: not UTF-8 text; save the file as CSV UTF-8"]
                          ) from None


@bp.post("/import")
def import_preview() -> ResponseReturnValue:
    try:
        name, text = _csv_text()
        plan = csv_plan(text, name, org_today())
    except SourceError as exc:
        db.session.rollback()
        return _page(exc.problems, 400)
    return _preview(plan, url_for("teams.import_apply"), {"filename": name, "text": text})


@bp.post("/import/apply")
def import_apply() -> ResponseReturnValue:
    try:
        name, text = _csv_text()
        plan = apply_plan(csv_plan(text, name, org_today()))
    except SourceError as exc:
        db.session.rollback()
        return _page(exc.problems, 400)
    return _done(f"{name}: {plan.summary()}.")


def _source_plan(source: str) -> Plan:
    if source == "github":
        return github_plan(org_today())
    if source == "cursor":
        from ..sync.teams import GroupsUnavailable, cursor_billing_groups

        try:
            groups = cursor_billing_groups()
        except GroupsUnavailable as exc:
            raise SourceError([str(exc)]) from None
        return cursor_plan(groups, org_today())
    abort(404)


@bp.post("/sync/<source>")
def sync_preview(source: str) -> ResponseReturnValue:
    if source not in TEAM_SOURCES:
        abort(404)
    try:
        plan = _source_plan(source)
    except SourceError as exc:
        db.session.rollback()
        return _page(exc.problems, 400)
    return _preview(plan, url_for("teams.sync_apply", source=source), {})


@bp.post("/sync/<source>/apply")
def sync_apply(source: str) -> ResponseReturnValue:
    if source not in TEAM_SOURCES:
        abort(404)
    try:
        plan = apply_plan(_source_plan(source))
    except SourceError as exc:
        db.session.rollback()
        return _page(exc.problems, 400)
    return _done(f"{'GitHub' if source == 'github' else 'Cursor'} teams: {plan.summary()}.")
