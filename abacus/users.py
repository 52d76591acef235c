"""People who sign in: created on first sign-in, admin role from ABACUS_ADMINS."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select

from .extensions import db
from .models import User


def record_sign_in(email: str, admins: Iterable[str]) -> User:
    """Create or update the user row for a sign-in and commit it.

    ABACUS_ADMINS always grants admin; nobody is demoted here, so a role given later in the
    admin pages survives the next sign-in.
    """
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, role="member")
        db.session.add(user)
    if email in admins:
        user.role = "admin"
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    return user


def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None
