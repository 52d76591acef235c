"""People who sign in: who is let in, the user row created on first sign-in, admin role from
ABACUS_ADMINS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import select

from ..extensions import db
from ..models import ROLES, User

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


def record_sign_in(email: str, admins: Iterable[str], name: str | None = None) -> User:
    """Create or update the user row for a sign-in and commit it.

    ABACUS_ADMINS always grants admin; nobody is demoted here, so a role given later in the
    admin pages survives the next sign-in. `name` (from the provider) fills in the display
    name when given and never erases one.
    """
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, role="member")
        db.session.add(user)
    if email in admins:
        user.role = "admin"
    if name and name.strip():
        user.name = name.strip()[:255]
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    return user


def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


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
        select(User.email).where(User.role == "admin").order_by(User.id).with_for_update())
        .scalars())
    if user.role == role:
        return False
    if role == "member" and admins == [user.email]:
        raise LastAdmin(f"{user.email} is the only admin")
    user.role = role
    return True
