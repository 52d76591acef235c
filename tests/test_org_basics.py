"""Shared org pieces: the team tree and effective-dated membership queries, and bearer
tokens (created, found by hash, refused for the other kind, revoked)."""

from datetime import date

from abacus.analytics import scope
from abacus.extensions import db
from abacus.models import Team, TeamMembership
from abacus.people import tokens


def test_subtree_members_over_a_range_and_leads(app):
    with app.app_context():
        eng = Team(name="Eng")
        db.session.add(eng)
        db.session.flush()
        platform = Team(name="Platform", parent_id=eng.id)
        db.session.add(platform)
        db.session.flush()
        db.session.add(TeamMembership(team_id=platform.id, person="x@e.com", lead=True,
                                      valid_from=date(2026, 1, 1), valid_to=date(2026, 3, 31)))
        db.session.flush()
        assert scope.subtree_ids([eng.id]) == [eng.id, platform.id]
        march = scope.members(scope.subtree_ids([eng.id]), date(2026, 3, 1), date(2026, 4, 1))
        assert list(db.session.scalars(march)) == ["x@e.com"]
        april = scope.members([platform.id], date(2026, 4, 1), date(2026, 4, 30))
        assert list(db.session.scalars(april)) == []
        assert scope.led_team_ids("X@e.com", date(2026, 2, 1)) == [platform.id]
        assert scope.led_team_ids("x@e.com", date(2026, 4, 1)) == []


def test_tokens_are_found_by_hash_per_kind_until_revoked(app):
    with app.app_context():
        row, plain = tokens.create_token("api", "bi", role="finance")
        assert plain.startswith("abk_api_") and row.token_hash != plain
        assert tokens.token_for("api", plain).id == row.id
        assert tokens.token_for("api", plain + "x") is None
        assert tokens.token_for("ingest", plain) is None
        tokens.revoke_token("api", "bi")
        assert tokens.token_for("api", plain) is None
        _, again = tokens.create_token("api", "bi", role="member", email="A@e.com")
        assert tokens.token_for("api", again).email == "a@e.com"
        assert tokens.bearer("Bearer abc") == "abc" and tokens.bearer("Basic x") is None
