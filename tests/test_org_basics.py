"""Shared org pieces: the team tree and effective-dated membership queries, and bearer
tokens (created, found by hash, revoked)."""
from datetime import date

from abacus.analytics import scope
from abacus.extensions import db
from abacus.models import Team, TeamMembership
from abacus.people import tokens


def test_scope_and_tokens(app):
    with app.app_context():
        a = Team(name="Eng"); db.session.add(a); db.session.flush()
        b = Team(name="Platform", parent_id=a.id); db.session.add(b); db.session.flush()
        db.session.add(TeamMembership(team_id=b.id, person="x@e.com", valid_from=date(2026,1,1), valid_to=date(2026,3,31), lead=True))
        db.session.flush()
        assert scope.subtree_ids([a.id]) == [a.id, b.id]
        assert list(db.session.scalars(scope.members([a.id, b.id], date(2026,3,1), date(2026,4,1)))) == ["x@e.com"]
        assert list(db.session.scalars(scope.members([b.id], date(2026,4,1), date(2026,4,30)))) == []
        assert scope.led_team_ids("X@e.com", date(2026,2,1)) == [b.id]
        row, plain = tokens.create_token("api", "bi", role="finance")
        assert tokens.token_for("api", plain).id == row.id
        assert tokens.token_for("ingest", plain) is None
        tokens.revoke_token("api", "bi")
        assert tokens.token_for("api", plain) is None
        assert tokens.bearer("Bearer abc") == "abc" and tokens.bearer("Basic x") is None
