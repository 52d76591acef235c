"""People who sign in: who is let in, the user row created on first sign-in, admin role from
ABACUS_ADMINS and finance role from ABACUS_FINANCE, server-side sessions (sign-out, lifetimes)
and deactivation."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from ..extensions import db
from ..models import ROLES, User, UserSession

CLOSED_MESSAGE = ("Sign-in is closed: no e-mail domain is allowed yet (ALLOWED_DOMAINS is not "
                  "set). Ask your administrator.")


class SignInRefused(Exception):
    """The identity provider vouched for someone who may not sign in; the message says why,
    in words meant for that person."""


def admitted_email(claims: Mapping[str, object], allowed_domains: Iterable[str], *,
                   hosted_domain_required: bool = False) -> str:
    """The lower-cased e-mail from an OpenID Connect identity that may sign in.

    Fails closed: no allowed domain configured, no e-mail, an e-mail the provider has not
    verified (anyone can type any address into an account profile) or a domain outside
    ALLOWED_DOMAINS all raise SignInRefused. With `hosted_domain_required` (Google) the
    Workspace `hd` claim must be an allowed domain too: it is what proves the account is
    managed by the company rather than a personal account that merely uses the address.
    """
    allowed = tuple(allowed_domains)
    if not allowed:
        raise SignInRefused(CLOSED_MESSAGE)
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) else ""
    local, _, domain = email.partition("@")
    if not local or not domain or "@" in domain or any(ch.isspace() for ch in email):
        raise SignInRefused("Your identity provider did not share an e-mail address, so "
                            "Abacus cannot tell who you are.")
    if not _is_true(claims.get("email_verified")):
        raise SignInRefused(f"{email} is not a verified address at your identity provider. "
                            "Verify it there, then sign in again.")
    if domain not in allowed:
        raise SignInRefused(f"{domain} is not an allowed domain. Sign in with your company "
                            "account.")
    if hosted_domain_required:
        hosted = claims.get("hd")
        if not isinstance(hosted, str) or hosted.lower() not in allowed:
            raise SignInRefused("Sign in with your company Google Workspace account; personal "
                                "Google accounts cannot sign in.")
    return email


def _is_true(value: object) -> bool:
    # Some providers (older Okta, Cognito) send the boolean claim as the string "true".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def record_sign_in(email: str, admins: Iterable[str], name: str | None = None,
                   finance: Iterable[str] = ()) -> User:
    """Create or update the user row for a sign-in and commit it.

    ABACUS_ADMINS always grants admin and ABACUS_FINANCE finance (to a member; an admin
    listed there stays an admin); nobody is demoted here, so a role given later in the
    admin pages survives the next sign-in. `name` (from the provider) fills in the display
    name when given and never erases one.
    """
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is not None and not user.active:
        raise SignInRefused(DEACTIVATED_MESSAGE)
    if user is None:
        user = User(email=email, role="member")
        db.session.add(user)
    grant_configured_roles(user, admins, finance)
    if name and name.strip():
        user.name = name.strip()[:255]
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    return user


def grant_configured_roles(user: User, admins: Iterable[str],
                           finance: Iterable[str] = ()) -> bool:
    """Give `user` the role the configuration lists them for (ABACUS_ADMINS, ABACUS_FINANCE:
    finance only to a member, an admin listed there stays an admin); True when it changed
    (the caller commits). Run at sign-in, and when an address is added to a setting while
    its person is signed in (web.auth), so that counts without signing out. Never demotes."""
    if user.email in tuple(admins) and user.role != "admin":
        user.role = "admin"
        return True
    if user.email in tuple(finance) and user.role == "member":
        user.role = "finance"
        return True
    return False


def has_admin() -> bool:
    """Whether any active person is an admin (the development sign-in offers to become one
    while nobody is)."""
    return db.session.execute(
        select(User.id).where(User.role == "admin", User.active).limit(1)).first() is not None


DEACTIVATED_MESSAGE = ("Your Abacus account has been deactivated. Ask an administrator if "
                       "you need access again.")
# last_seen_at is written at most this often: the idle limit is hours, a write per request
# would be waste.
SEEN_WRITE_INTERVAL = timedelta(minutes=1)


def _session_key(token: str) -> str:
    # Only the hash is stored: a leaked table (or backup) does not hand out live cookies.
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> str:
    """A new server-side session for `user` (committed); returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(id=_session_key(token), user_id=user.id))
    db.session.commit()
    return token


def end_session(token: str | None) -> None:
    """Sign-out: the session ends on the server, so a copy of the cookie stops working."""
    if not token:
        return
    db.session.execute(update(UserSession)
                       .where(UserSession.id == _session_key(token),
                              UserSession.ended_at.is_(None))
                       .values(ended_at=func.now()))
    db.session.commit()


def session_user(user_id: str, token: str | None, *, allowed_domains: Iterable[str],
                 max_age: timedelta, idle: timedelta,
                 now: datetime | None = None) -> User | None:
    """The signed-in user when the session `token` still stands, else None.

    Checked on every request: the session row exists for this user and has not ended, is
    younger than `max_age` and was used within `idle`; the person is active and their
    e-mail domain is still in ALLOWED_DOMAINS (removing a domain signs its people out).
    The role is read from the row each time: a promotion in Admin → People counts at the
    person's next request.
    """
    if not token or not user_id.isdigit():
        return None
    now = now or datetime.now(UTC)
    row = db.session.execute(
        select(UserSession, User).join(User, User.id == UserSession.user_id)
        .where(UserSession.id == _session_key(token), User.id == int(user_id))).first()
    if row is None:
        return None
    sess, user = row
    domain = user.email.rpartition("@")[2]
    if (sess.ended_at is not None or not user.active or domain not in tuple(allowed_domains)
            or now - sess.created_at >= max_age or now - sess.last_seen_at >= idle):
        if sess.ended_at is None:
            sess.ended_at = now
            db.session.commit()
        return None
    if now - sess.last_seen_at >= SEEN_WRITE_INTERVAL:
        sess.last_seen_at = now
        db.session.commit()
    return user


class CannotDeactivate(ValueError):
    """Deactivating this person would lock the admin out, or leave nobody in charge."""


def set_active(user: User, active: bool, by: User) -> bool:
    """Deactivate or reactivate `user` (committed); False when nothing changes.

    Deactivating ends every session of theirs at once. An admin cannot deactivate
    themselves, nor the last active admin (rows locked, as in set_role).
    """
    admins = list(db.session.execute(
        select(User.id).where(User.role == "admin", User.active).order_by(User.id)
        .with_for_update()).scalars())
    if user.active == active:
        return False
    if not active:
        if user.id == by.id:
            raise CannotDeactivate("You cannot deactivate yourself; ask another admin.")
        if admins == [user.id]:
            raise CannotDeactivate(f"{user.email} is the only active admin. Make someone else "
                                   "an admin first.")
        db.session.execute(update(UserSession)
                           .where(UserSession.user_id == user.id,
                                  UserSession.ended_at.is_(None))
                           .values(ended_at=func.now()))
    user.active = active
    db.session.commit()
    return True


class LastAdmin(ValueError):
    """Demoting this user would leave nobody able to administer Abacus."""


def set_role(user: User, role: str) -> bool:
    """Give `user` the role (caller commits); False when they already have it.

    The admins' rows are locked until commit, so two admins demoting each other at the same
    moment cannot leave nobody in charge.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    admins = list(db.session.execute(
        select(User.email).where(User.role == "admin", User.active).order_by(User.id)
        .with_for_update()).scalars())
    if user.role == role:
        return False
    if role != "admin" and admins == [user.email]:
        raise LastAdmin(f"{user.email} is the only admin")
    user.role = role
    return True
