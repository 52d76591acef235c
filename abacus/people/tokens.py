"""Bearer tokens for machines: API tokens (read the JSON API as a role) and ingest tokens
(post telemetry). One home for both kinds: a token is random, shown once, kept only as its
SHA-256, found by that hash on every request, revocable, and its last use is recorded."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import ROLES, TOKEN_KINDS, AccessToken

PREFIX = {"api": "abk_api_", "ingest": "abk_ing_"}  # says what a leaked token is for
# last_used_at is written at most this often per token, so a busy exporter does not turn
# every request into an UPDATE.
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be carried out; the message says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def live_token(kind: str, name: str) -> AccessToken | None:
    return db.session.scalar(select(AccessToken).where(
        AccessToken.kind == kind, AccessToken.name == name, AccessToken.revoked_at.is_(None)))


def create_token(kind: str, name: str, *, role: str | None = None, email: str | None = None,
                 created_by: str | None = None) -> tuple[AccessToken, str]:
    """A new token of `kind` named `name`; returns the row and the plain token (shown once).
    Refuses a name that a live token of the same kind already has. Caller commits."""
    if kind not in TOKEN_KINDS:
        raise TokenError(f"unknown token kind {kind!r}")
    name = name.strip()
    if not name or len(name) > 128:
        raise TokenError("a token needs a name of 1 to 128 characters")
    if live_token(kind, name) is not None:
        raise TokenError(f"a {kind} token named {name!r} already exists; revoke it first")
    plain = PREFIX[kind] + secrets.token_urlsafe(32)
    row = AccessToken(kind=kind, name=name, token_hash=_hash(plain), role=role,
                      email=email.strip().lower() if email else None, created_by=created_by)
    db.session.add(row)
    db.session.flush()
    return row, plain


def create_api_token(name: str, *, role: str = "member", email: str | None = None,
                     created_by: str | None = None) -> tuple[AccessToken, str]:
    """An API token reading as `role`. A member token reads as one person, so it needs that
    person's `email`; admin and finance tokens may name a contact e-mail. Caller commits."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)} (not {role!r})")
    email = (email or "").strip().lower() or None
    if email is not None:
        local, _, domain = email.partition("@")
        if email.count("@") != 1 or not local or "." not in domain or any(
                ch.isspace() for ch in email) or len(email) > 255:
            raise TokenError(f"{email!r} is not an e-mail address")
    if role == "member" and email is None:
        raise TokenError("a member token reads one person's rows: give their e-mail "
                         "(--email)")
    return create_token("api", name, role=role, email=email, created_by=created_by)


def revoke_token(kind: str, name: str) -> AccessToken:
    """Revoke the live token of `kind` named `name`; it is refused from the next request on.
    Caller commits."""
    row = live_token(kind, name)
    if row is None:
        raise TokenError(f"no live {kind} token named {name!r}")
    row.revoked_at = datetime.now(UTC)
    return row


def token_for(kind: str, presented: str | None) -> AccessToken | None:
    """The live token of `kind` whose plain text is `presented`, or None; records its use.
    Caller commits (a read-only request may simply commit at the end)."""
    if not presented:
        return None
    row = db.session.scalar(select(AccessToken).where(
        AccessToken.token_hash == _hash(presented.strip()), AccessToken.kind == kind,
        AccessToken.revoked_at.is_(None)))
    if row is not None:
        now = datetime.now(UTC)
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            row.last_used_at = now
    return row


def bearer(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer …` header, or None."""
    scheme, _, value = (header or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def list_tokens(kind: str) -> list[AccessToken]:
    """Every token of `kind`, live first, newest first."""
    return list(db.session.scalars(select(AccessToken).where(AccessToken.kind == kind)
                                   .order_by(AccessToken.revoked_at.is_not(None),
                                             AccessToken.created_at.desc())))


def token_kind(presented: str | None) -> str | None:
    """The kind of the token `presented` if it is one Abacus issued (live or revoked), else
    None: lets a face tell "wrong kind of token" or "revoked" (403) from "no token" (401)."""
    if not presented:
        return None
    return db.session.scalar(select(AccessToken.kind).where(
        AccessToken.token_hash == _hash(presented.strip())))
