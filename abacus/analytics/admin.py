"""Read side of the admin area: section counts, the identity mapping assistant's
unmapped identities with suggested people, mappings, models with their price source, people.
(Admin → Accounts' rows need the provider registry, so they live in `sync.account_rows`.)

Like every page query this reads the `usage_daily` rollup, never raw events. Credentials are
never read here: an account only says whether it has some.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import BigInteger, Text, cast, func, or_, select, text, union

from ..extensions import db
from ..models import Bot, Commit, IdentityMapping, ModelPrice, User
from ..models import UsageDaily as D
from ..models import UsageDayTotals as T
from ..usage.prices import org_today, price_history, resolve
from ..usage.pricing import Price
from .common import TOKENS, Costed, int_sum, money_sum, person_tool_rows, usage_sums

# Words in API key names that say nothing about whose key it is.
NOISE_WORDS = frozenset({
    "api", "apikey", "key", "keys", "token", "secret", "sk", "ant", "admin", "claude", "code",
    "cursor", "anthropic", "openai", "bot", "ci", "cd", "dev", "prod", "production", "staging",
    "test", "tests", "user", "team", "default", "personal", "work", "laptop", "desktop",
    "local", "github", "gitlab", "actions", "service", "svc", "account", "org", "main",
    "build", "deploy", "the", "and", "new", "old", "tmp", "temp", "example", "com", "net",
    "io", "mail", "gmail", "outlook", "seat",  # "seat:<account>" names a seat export
})
_WORD_RE = re.compile(r"[a-z]+|[0-9]+")

# Co-activity suggestions: how alike the active days must be (shared / either, 0..1) and the
# window they are compared over (recent habits say more than last year's).
CO_ACTIVITY_MIN = 0.75
CO_ACTIVITY_DAYS = 90
CO_ACTIVITY_MAX = 2  # more people that alike: the days say nothing about whose it is
CO_ACTIVITY_IDENTITIES = 20  # the most used unmapped identities get this (costly) check


class AccountHealth(Protocol):
    """What the index counts of an account row (`sync.account_rows.AccountRow` has it)."""

    status: str

    @property
    def needs_attention(self) -> bool: ...


# --- the index ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    accounts: int
    accounts_attention: int  # refused credentials, rate limited, failing or without secrets
    accounts_disabled: int
    unmapped: int  # provider identities whose usage has no person
    unmapped_events: int
    unpriced_models: int  # models with events nobody could price
    mappings: int
    overrides: int
    people: int  # users who signed in
    admins: int


def counts(accounts: Sequence[AccountHealth]) -> Counts:
    """The index's figures; `accounts` are Admin → Accounts' rows (from the sync domain)."""
    # Only the unmapped rows of the rollup (its partial index; bots are not waiting for a
    # person), and the unpriced models from the small per-day totals: a pass over every row
    # of usage_daily took ~0.9 s at 10M events.
    unmapped = db.session.execute(
        select(func.count(func.distinct(func.row(D.provider, D.actor))),
               cast(func.coalesce(func.sum(D.events), 0), BigInteger))
        .where(D.email.is_(None), D.actor.not_in(select(Bot.person)))).one()
    unpriced_models = db.session.execute(
        select(func.count(func.distinct(T.model))).where(T.unpriced_events > 0)).scalar_one()
    users = db.session.execute(
        select(func.count(), func.count().filter(User.role == "admin")).select_from(User)).one()
    return Counts(
        accounts=len(accounts),
        accounts_attention=sum(a.needs_attention for a in accounts),
        accounts_disabled=sum(a.status == "disabled" for a in accounts),
        unmapped=int(unmapped[0]),
        unmapped_events=int(unmapped[1] or 0),
        unpriced_models=int(unpriced_models),
        mappings=db.session.execute(select(func.count()).select_from(IdentityMapping)).scalar(),
        overrides=db.session.execute(select(func.count()).select_from(ModelPrice)
                                     .where(ModelPrice.source == "override")).scalar(),
        people=int(users[0]),
        admins=int(users[1]),
    )


# --- the identity mapping assistant ------------------------------------------------------------

@dataclass(frozen=True)
class Suggestion:
    email: str
    reason: str
    kind: str  # "name": the key's name resembles the person; "days": same active days;
    #            "mapped": the same identity is mapped to them for another provider;
    #            "guess": an address made from the name (nobody known has it)


@dataclass(frozen=True)
class UnmappedIdentity(Costed):
    provider: str
    actor: str
    events: int
    tokens: int
    cost_usd: Decimal
    unpriced_events: int
    first_day: date
    last_day: date
    days_active: int
    suggestions: list[Suggestion] = field(default_factory=list)


def _words(value: str) -> list[str]:
    return _WORD_RE.findall(value.lower())


def _name_words(value: str) -> list[str]:
    """The words of a key name that may name a person (no noise, no numbers, 3+ letters)."""
    return [w for w in _words(value) if len(w) >= 3 and w.isalpha() and w not in NOISE_WORDS]


@dataclass(frozen=True)
class _Person:
    email: str
    local: str  # the local part without separators: "alice.smith" -> "alicesmith"
    words: frozenset[str]  # words of the local part and of the name a user signed in with


def _people(names: dict[str, str | None]) -> list[_Person]:
    out = []
    for email, name in names.items():
        local = email.partition("@")[0]
        words = {w for w in _words(local) + _words(name or "") if len(w) >= 3 and w.isalpha()}
        out.append(_Person(email, "".join(_words(local)), frozenset(words)))
    return out


def _spans(words: list[str]) -> set[str]:
    """Every run of consecutive words, joined: [ci, alice, smith] → ci, alice, alicesmith…"""
    return {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def name_suggestions(actor: str, people: Iterable[_Person], limit: int = 3) -> list[Suggestion]:
    """People whose address or name the identity's name resembles, best first.

    `ci-alice-key` → alice@…: the whole local part is a run of words of the name (strongest),
    or one of the person's words (a first or last name) is a word of it.
    """
    is_email = "@" in actor
    name = actor.partition("@")[0] if is_email else actor
    spans = _spans(_words(name))
    actor_words = set(_name_words(name))
    scored: list[tuple[int, str, Suggestion]] = []
    for p in people:
        if p.email == actor.lower():
            continue
        if len(p.local) >= 3 and p.local not in NOISE_WORDS and p.local in spans:
            local = p.email.partition("@")[0]
            reason = ("the same name at another domain" if is_email
                      and "".join(_words(name)) == p.local else f"the name contains “{local}”")
            scored.append((0, p.email, Suggestion(p.email, reason, "name")))
            continue
        shared = sorted(actor_words & p.words, key=lambda w: (-len(w), w))
        if shared:
            scored.append((1, p.email, Suggestion(
                p.email, f"the name mentions “{shared[0]}”, like this person", "name")))
    words = _words(name)
    if len(words) >= 2 and all(w.isalpha() for w in words[:2]):
        # A display name or login like "Alice Smith" → asmith@ (first initial, last name).
        initial = words[0][0] + words[-1]
        for p in people:
            if p.local == initial and p.email not in {s.email for _, _, s in scored}:
                scored.append((0, p.email, Suggestion(
                    p.email, f"“{name}” abbreviated is “{initial}”", "name")))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [s for _, _, s in scored[:limit]]


def guessed_addresses(actor: str, domains: Sequence[str]) -> list[Suggestion]:
    """Addresses to offer when no known person resembles an identity's name: the name's only
    personal word at the first allowed domain ("alice-laptop" → alice@…), or first.last for
    a two-word name ("Alice Smith" → alice.smith@…). Offered, never applied."""
    if not domains or "@" in actor:
        return []
    words = _name_words(actor)
    if len(words) == 1:
        local = words[0]
    elif len(words) == 2 and len(_words(actor)) == 2:
        local = ".".join(words)
    else:
        return []
    return [Suggestion(f"{local}@{domains[0]}", "a guess from the name (nobody with this "
                       "address has shown up yet)", "guess")]


def unmapped_identities(limit: int = 100, domains: Sequence[str] = ()
                        ) -> list[UnmappedIdentity]:
    """Identities whose usage has no person, most used first, with suggested people (and,
    when none resembles the name, an address guessed at the first of `domains`). Bots are
    left out: they are listed apart."""
    sums = usage_sums(D)
    rows = db.session.execute(
        select(D.provider, D.actor, *sums, func.min(D.day).label("first"),
               func.max(D.day).label("last"), func.count(func.distinct(D.day)).label("days"))
        .where(D.email.is_(None), D.actor.not_in(select(Bot.person)))
        .group_by(D.provider, D.actor)
        .order_by(sums.events.desc(), D.provider, D.actor)
        .limit(limit)).all()
    if not rows:
        return []
    people = _people(known_people_names())
    by_days = _co_activity([(r.provider, r.actor) for r in rows[:CO_ACTIVITY_IDENTITIES]])
    elsewhere = _mapped_elsewhere([r.actor for r in rows])
    out = []
    for r in rows:
        suggestions = [Suggestion(email, f"mapped to them for {src}", "mapped")
                       for src, email in elsewhere.get(r.actor, []) if src != r.provider]
        by_name = name_suggestions(r.actor, people)
        suggestions += by_name or guessed_addresses(r.actor, domains)
        suggestions += by_days.get((r.provider, r.actor), [])
        seen: set[str] = set()
        unique = [s for s in suggestions if not (s.email in seen or seen.add(s.email))]
        out.append(UnmappedIdentity(
            provider=r.provider, actor=r.actor, events=int(r.events), tokens=int(r.tokens),
            cost_usd=Decimal(r.cost), unpriced_events=int(r.unpriced), first_day=r.first,
            last_day=r.last, days_active=int(r.days), suggestions=unique[:4]))
    return out


@dataclass(frozen=True)
class UnmappedCommitAuthor:
    key: str  # identity_mappings external id (source "github"): login, else e-mail
    login: str | None
    name: str | None
    email: str | None
    commits: int
    last_commit_at: datetime
    suggestions: list[Suggestion]


def unmapped_commit_authors(limit: int = 50) -> list[UnmappedCommitAuthor]:
    """Commit authors with no person (noreply addresses, outside e-mails, bots), most
    commits first, with people whose name looks alike."""
    key = func.coalesce(func.lower(Commit.author_login), func.lower(Commit.author_email))
    rows = db.session.execute(
        select(key.label("key"), func.max(Commit.author_login), func.max(Commit.author_name),
               func.max(Commit.author_email), func.count(), func.max(Commit.committed_at))
        .where(Commit.person.is_(None), key.is_not(None))
        .group_by(key).order_by(func.count().desc(), key).limit(limit)).all()
    if not rows:
        return []
    people = _people(known_people_names())
    out = []
    for k, login, name, email, n, last in rows:
        found: dict[str, Suggestion] = {}
        for value in (name, login, email):
            for s in name_suggestions(value, people) if value else []:
                found.setdefault(s.email, s)
        out.append(UnmappedCommitAuthor(k, login, name, email, int(n), last,
                                        list(found.values())[:4]))
    return out


_CO_ACTIVITY_SQL = text("""
WITH wanted AS (
    SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:actors AS text[])) AS w(provider, actor)
), ad AS (
    SELECT DISTINCT d.provider, d.actor, d.day
    FROM usage_daily d JOIN wanted w ON w.provider = d.provider AND w.actor = d.actor
    WHERE d.email IS NULL AND d.day >= :since
), an AS (
    SELECT provider, actor, count(*) AS n FROM ad GROUP BY provider, actor
), pd AS (
    SELECT DISTINCT email, day FROM usage_daily WHERE email IS NOT NULL AND day >= :since
), pn AS (
    SELECT email, count(*) AS n FROM pd GROUP BY email
), ov AS (
    SELECT ad.provider, ad.actor, pd.email, count(*) AS shared
    FROM ad JOIN pd ON pd.day = ad.day GROUP BY ad.provider, ad.actor, pd.email
), scored AS (
    SELECT ov.provider, ov.actor, ov.email, ov.shared, an.n AS actor_days, pn.n AS person_days,
           ov.shared::float / (an.n + pn.n - ov.shared) AS alike
    FROM ov JOIN an ON an.provider = ov.provider AND an.actor = ov.actor
            JOIN pn ON pn.email = ov.email
), ranked AS (
    SELECT scored.*,
           row_number() OVER (PARTITION BY provider, actor ORDER BY alike DESC, email) AS rk,
           count(*) OVER (PARTITION BY provider, actor) AS candidates
    FROM scored WHERE shared >= 3 AND alike >= :min_alike
)
SELECT provider, actor, email, shared, actor_days, person_days FROM ranked
WHERE candidates <= :max_candidates
ORDER BY provider, actor, rk
""")


def _co_activity(identities: list[tuple[str, str]]) -> dict[tuple[str, str], list[Suggestion]]:
    """People active on (nearly) the same days as each identity, over the recent window.

    Only a distinctive match counts: when more than CO_ACTIVITY_MAX people are that alike (a
    CI key used every working day matches everyone who works every day), none is suggested.
    """
    last = db.session.execute(select(func.max(D.day))).scalar()
    if last is None:
        return {}
    since = last - timedelta(days=CO_ACTIVITY_DAYS - 1)
    out: dict[tuple[str, str], list[Suggestion]] = {}
    for r in db.session.execute(_CO_ACTIVITY_SQL, {
            "providers": [p for p, _ in identities], "actors": [a for _, a in identities],
            "since": since, "min_alike": CO_ACTIVITY_MIN,
            "max_candidates": CO_ACTIVITY_MAX}):
        others = r.person_days - r.shared
        reason = (f"active on {r.shared} of its {r.actor_days} days in the last "
                  f"{CO_ACTIVITY_DAYS}" + (f", and {others} other" + (" day" if others == 1
                                                                         else " days")
                                           if others else ", and no other day"))
        out.setdefault((r.provider, r.actor), []).append(Suggestion(r.email, reason, "days"))
    return out


def _mapped_elsewhere(actors: list[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for source, external_id, email in db.session.execute(
            select(IdentityMapping.source, IdentityMapping.external_id, IdentityMapping.email)
            .where(IdentityMapping.external_id.in_(actors))):
        found.setdefault(external_id, []).append((source, email))
    return found


def known_people_names() -> dict[str, str | None]:
    """Every person Abacus knows (usage, mappings, sign-ins) → the name they signed in with."""
    # The usage e-mails by a skip scan of the rollup's (email, day) index: one probe per
    # person instead of a DISTINCT over every row (~0.5 s at 10M events).
    skip = text("""WITH RECURSIVE e(email) AS (
                       (SELECT email FROM usage_daily WHERE email IS NOT NULL
                        ORDER BY email LIMIT 1)
                       UNION ALL
                       SELECT (SELECT u.email FROM usage_daily u WHERE u.email > e.email
                               ORDER BY u.email LIMIT 1)
                       FROM e WHERE e.email IS NOT NULL)
                   SELECT email FROM e WHERE email IS NOT NULL""").columns(email=Text)
    emails = union(select(skip.subquery().c.email), select(IdentityMapping.email),
                   select(User.email)).subquery()
    rows = db.session.execute(
        select(emails.c.email, User.name).outerjoin(User, User.email == emails.c.email)
        .order_by(emails.c.email)).all()
    return {email: name for email, name in rows}


def known_people() -> list[str]:
    return list(known_people_names())


@dataclass(frozen=True)
class MappingRow:
    source: str
    external_id: str
    email: str
    assigned_by: str | None
    updated_at: datetime


@dataclass(frozen=True)
class MappingPage:
    rows: list[MappingRow]
    total: int  # matching the filter
    limit: int


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def mapping_page(query: str = "", limit: int = 100) -> MappingPage:
    """Existing mappings, admin assignments first (newest first), filtered by `query`."""
    where = []
    q = query.strip().lower()
    if q:
        like = "%" + _escape_like(q) + "%"
        where.append(or_(func.lower(IdentityMapping.external_id).like(like),
                         IdentityMapping.email.like(like),
                         func.lower(func.coalesce(IdentityMapping.assigned_by, "")).like(like),
                         IdentityMapping.source.like(like)))
    total = db.session.execute(
        select(func.count()).select_from(IdentityMapping).where(*where)).scalar()
    by_sync = func.coalesce(IdentityMapping.assigned_by, "sync") == "sync"
    rows = db.session.execute(
        select(IdentityMapping).where(*where)
        .order_by(by_sync, IdentityMapping.updated_at.desc(), IdentityMapping.source,
                  IdentityMapping.external_id)
        .limit(limit)).scalars()
    return MappingPage([MappingRow(m.source, m.external_id, m.email, m.assigned_by,
                                   m.updated_at) for m in rows], int(total), limit)


@dataclass(frozen=True)
class PersonUsage:
    email: str
    events: int
    tokens: int
    identities: int  # distinct provider identities carrying the address


def person_usage(email: str) -> PersonUsage:
    """What a merge would move: the usage recorded under one address."""
    r = db.session.execute(
        select(int_sum(D.events), int_sum(TOKENS),
               func.count(func.distinct(func.row(D.provider, D.actor))))
        .where(D.email == email.strip().lower())).one()
    return PersonUsage(email, int(r[0]), int(r[1]), int(r[2]))


# --- pricing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelPriceRow(Costed):
    model: str
    events: int
    unpriced_events: int
    tokens: int
    cost_usd: Decimal
    estimated_cost_usd: Decimal
    source: str  # shipped | updated | override | unpriced (the price in force today)
    price: Price | None

    @property
    def provider_cost_usd(self) -> Decimal:
        return self.cost_usd - self.estimated_cost_usd


@dataclass(frozen=True)
class PriceTableRow:
    """A priced model: its price in force today (source, valid from) and earlier prices."""

    model: str
    price: Price
    earlier: int  # price rows in force before this one (shipped base included)
    events: int  # events of the model in usage


@dataclass(frozen=True)
class OverrideRow:
    model: str
    price: Price  # valid_from says from which day it wins
    replaces: Price | None  # shipped or updated price it wins over that day (None: unpriced)
    note: str | None
    updated_by: str | None
    updated_at: datetime
    events: int  # events of the model in usage


# Per-model figures come from the small per-day totals (day x account x model), which hold
# the same sums as usage_daily without its row per person.
def _events_by_model(models: Iterable[str] | None = None) -> dict[str, int]:
    query = select(T.model, int_sum(T.events)).group_by(T.model)
    if models is not None:
        query = query.where(T.model.in_(list(models)))
    return {m: int(n) for m, n in db.session.execute(query).all()}


def model_prices() -> list[ModelPriceRow]:
    """Every model seen in usage with its event counts and the price it has today (and where
    it comes from); unpriced models first (they need a price), then by events."""
    history = price_history()
    today = org_today()
    rows = []
    sums = usage_sums(T)
    for r in db.session.execute(
            select(T.model, *sums, money_sum(T.estimated_cost_usd).label("estimated"))
            .group_by(T.model).order_by(sums.events.desc(), T.model)):
        price = resolve(history.get(r.model, []), today)
        rows.append(ModelPriceRow(r.model, int(r.events), int(r.unpriced), int(r.tokens),
                                  Decimal(r.cost), Decimal(r.estimated),
                                  price.source if price else "unpriced", price))
    return sorted(rows, key=lambda row: row.source != "unpriced")


def price_table() -> list[PriceTableRow]:
    """Every priced model with the price in force today, by model name."""
    today = org_today()
    events = _events_by_model()
    out = []
    for model, history in sorted(price_history().items()):
        price = resolve(history, today)
        if price is None:
            continue  # priced only from a later day (an update dated ahead)
        earlier = sum(1 for p in history if p is not price and p.valid_from <= today)
        out.append(PriceTableRow(model, price, earlier, events.get(model, 0)))
    return out


def override_rows() -> list[OverrideRow]:
    rows = list(db.session.execute(select(ModelPrice).where(ModelPrice.source == "override")
                                   .order_by(ModelPrice.model, ModelPrice.valid_from))
                .scalars())
    if not rows:
        return []
    history = price_history({r.model for r in rows})
    events = _events_by_model({r.model for r in rows})
    out = []
    for row in rows:
        price = next(p for p in history[row.model]
                     if p.source == "override" and p.valid_from == row.valid_from)
        base = resolve([p for p in history[row.model] if p.source != "override"],
                       max(row.valid_from, org_today()))
        out.append(OverrideRow(row.model, price, base, row.note, row.created_by,
                               row.created_at, events.get(row.model, 0)))
    return out


def price_for(model: str) -> tuple[str, Price | None]:
    """The price a model uses today and where it comes from."""
    price = resolve(price_history([model]).get(model, []), org_today())
    return (price.source, price) if price else ("unpriced", None)


# --- people and roles -------------------------------------------------------------------------

@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str | None
    role: str
    created_at: datetime
    last_login_at: datetime | None
    events: int  # usage under their address (all time)
    active: bool = True


def user_rows() -> list[UserRow]:
    """Users who signed in: admins first, then by e-mail."""
    # All time, from the per-person blocks covering it (a few rows per person), as a person's
    # page counts them; the per-day rollup has a row per person, day and model.
    first, last = db.session.execute(select(func.min(T.day), func.max(T.day))).one()
    if first is None:
        first = last = org_today()
    blocks = person_tool_rows(first, last).c
    usage = (select(blocks.person.label("email"), int_sum(blocks.events).label("events"))
             .where(blocks.person.in_(select(User.email)))
             .group_by(blocks.person).subquery())
    rows = db.session.execute(
        select(User, func.coalesce(usage.c.events, 0))
        .outerjoin(usage, usage.c.email == User.email)
        .order_by((User.role != "admin"), User.email)).all()
    return [UserRow(u.id, u.email, u.name, u.role, u.created_at, u.last_login_at, int(n),
                    u.active) for u, n in rows]


def admin_count() -> int:
    return db.session.execute(
        select(func.count()).select_from(User).where(User.role == "admin", User.active)
    ).scalar()
