"""Commit numbers for the Commits page, repository pages, the Overview and person pages.

A commit is **AI attributed** when any tool was found on it (a row in `commit_attributions`,
or its primary `Commit.ai_tool`); **Human** means none was, so a tool without a chart colour
of its own (Codex, Aider…) is never counted as Human. Per-tool figures count a commit once
for every tool found on it (a commit made with two tools counts for both); totals count it
once. Line stats may be unknown (NULL) for webhook commits not enriched yet: sums cover the
commits that have them and `with_stats` says how many do. Days are in the org time zone,
passed as its IANA name (`tz`). Everything is aggregated in SQL; lists are paged in SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import (
    TIMESTAMP,
    ColumnElement,
    Numeric,
    and_,
    cast,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union,
)

from ..extensions import db
from ..github.attribution import TOOLS
from ..models import Commit as C
from ..models import CommitAttribution as A
from ..models import Repository as R
from ..models import WebhookDelivery
from .common import Paged, Span, Team
from .scope import member_on_day

if TYPE_CHECKING:
    from ..config import Settings

PER_PAGE = 50
FILTERS = ("all", "ai", "human")
HUMAN = "human"  # the daily chart's series for commits without any tool

# A commit with any tool found on it.
HAS_TOOL = or_(C.ai_tool.isnot(None), exists().where(A.commit_id == C.id))
# Line stats known (both figures come from the same API call).
HAS_STATS = and_(C.additions.isnot(None), C.deletions.isnot(None))
# Who wrote it: the resolved person, else the raw identity (distinct authors, not e-mails).
AUTHOR = func.coalesce(C.person, func.lower(C.author_email), C.author_login, C.author_name)


def known_tools() -> tuple[str, ...]:
    """Commit tool ids in display order (the attribution table's order)."""
    return tuple(TOOLS)


def order_tools(tools: Sequence[str]) -> list[str]:
    """Known tools in the attribution table's order, then any others A→Z."""
    order = {t: i for i, t in enumerate(known_tools())}
    return sorted(set(tools), key=lambda t: (order.get(t, len(order)), t))


AI_RATE_HIGH = 50  # % of commits AI-attributed from which a share is highlighted (one place)


def web_url(url: str | None) -> str | None:
    """A link target from GitHub's data, only when it is a web address (never `javascript:`)."""
    return url if url and url.startswith(("https://", "http://")) else None


_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


def forge_web_base(api_url: str) -> str:
    """GitHub's web address for its API address: https://api.github.com -> https://github.com,
    https://ghe.example.com/api/v3 -> https://ghe.example.com (GitHub Enterprise)."""
    parts = urlsplit(api_url.rstrip("/"))
    host, path = parts.netloc, parts.path
    if host.startswith("api."):
        host = host[4:]
    path = path.removesuffix("/api/v3").removesuffix("/api")
    return f"{parts.scheme or 'https'}://{host}{path}"


def commit_url(html_url: str | None, full_name: str | None, sha: str,
               api_url: str = "https://api.github.com") -> str | None:
    """Where a commit is shown on the forge: the URL GitHub gave, else one made from the
    repository's owner/name (commits from webhooks or demo data often come without one)."""
    given = web_url(html_url)
    if given or not full_name or not _REPO_NAME.fullmatch(full_name) or not _SHA.fullmatch(sha):
        return given
    return f"{forge_web_base(api_url)}/{full_name}/commit/{sha}"


def _pct(part: int, whole: int) -> Decimal:
    """Share in percent to one decimal place (0 for an empty whole)."""
    if not whole:
        return Decimal(0)
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"),
                                                          rounding=ROUND_HALF_UP)


# --- filters -------------------------------------------------------------------------------

def _day_bound(day: date, tz: str) -> ColumnElement:
    """Midnight starting `day` in the org time zone, as a timestamptz constant (keeps the
    committed_at index usable, unlike converting every row)."""
    return func.timezone(tz, cast(literal(day), TIMESTAMP(timezone=False)))


def in_days(start: date, end: date, tz: str) -> ColumnElement[bool]:
    """Commits on the inclusive org-time-zone days start..end."""
    return and_(C.committed_at >= _day_bound(start, tz),
                C.committed_at < _day_bound(end + timedelta(days=1), tz))


def commit_day(tz: str) -> ColumnElement[date]:
    return func.date(func.timezone(tz, C.committed_at))


def in_team_days(start: date, end: date, tz: str, team: Team = None) -> ColumnElement[bool]:
    """Commits on the days start..end whose person was in the team scope that day."""
    where = in_days(start, end, tz)
    if team is not None:
        where = and_(where, member_on_day(team, func.lower(C.person), commit_day(tz)))
    return where


def _scope(start: date, end: date, tz: str, repository_id: int | None,
           person: str | None, team: Team = None) -> ColumnElement[bool]:
    where = in_team_days(start, end, tz, team)
    if repository_id is not None:
        where = and_(where, C.repository_id == repository_id)
    if person is not None:
        where = and_(where, C.person == person)
    return where


def _kind(kind: str) -> ColumnElement[bool]:
    if kind == "ai":
        return HAS_TOOL
    if kind == "human":
        return ~HAS_TOOL
    return true()


# --- totals and per-tool counts ------------------------------------------------------------

@dataclass(frozen=True)
class CommitTotals(Span):
    """One window's commit figures (cards, table footers, and the previous window)."""

    commits: int = 0
    ai_commits: int = 0
    repositories: int = 0
    authors: int = 0
    additions: int = 0  # over the commits with line stats
    deletions: int = 0
    with_stats: int = 0  # commits whose line stats are known
    last_commit: datetime | None = None  # in the org time zone

    @property
    def human_commits(self) -> int:
        return self.commits - self.ai_commits

    @property
    def ai_rate(self) -> Decimal:
        """AI-attributed share in percent, one decimal."""
        return _pct(self.ai_commits, self.commits)

    @property
    def lines_changed(self) -> int:
        return self.additions + self.deletions

    @property
    def stats_missing(self) -> int:
        return self.commits - self.with_stats

    def ai_rate_change(self, previous: CommitTotals) -> int | None:
        """Change of the AI share against `previous` in whole percentage points; None when
        the previous window had no commits (a share's relative change would read oddly)."""
        if not previous.commits or not self.commits:
            return None
        return int((self.ai_rate - previous.ai_rate).quantize(Decimal(1),
                                                               rounding=ROUND_HALF_UP))


def commit_totals(start: date, end: date, tz: str, *, repository_id: int | None = None,
                  person: str | None = None, team: Team = None) -> CommitTotals:
    """Figures for the inclusive days start..end, for one repository or person if given."""
    r = db.session.execute(select(
        func.count().label("commits"),
        func.count().filter(HAS_TOOL).label("ai"),
        func.count(distinct(C.repository_id)).label("repos"),
        func.count(distinct(AUTHOR)).label("authors"),
        func.sum(C.additions).filter(HAS_STATS).label("additions"),
        func.sum(C.deletions).filter(HAS_STATS).label("deletions"),
        func.count().filter(HAS_STATS).label("with_stats"),
        func.max(C.committed_at).label("last"),
    ).select_from(C).where(_scope(start, end, tz, repository_id, person, team))).one()
    return CommitTotals(start=start, end=end, commits=int(r.commits), ai_commits=int(r.ai),
                        repositories=int(r.repos), authors=int(r.authors),
                        additions=int(r.additions or 0), deletions=int(r.deletions or 0),
                        with_stats=int(r.with_stats),
                        last_commit=r.last.astimezone(ZoneInfo(tz)) if r.last else None)


@dataclass(frozen=True)
class ToolCount:
    tool: str
    commits: int  # commits this tool was found on (a two-tool commit counts for both)
    share: Decimal  # percent of the AI-attributed commits (shares may add up past 100)


def _tool_pairs(where: ColumnElement[bool]):
    """(commit id, repository id, tool) for every tool on the commits matching `where`,
    each pair once: the attribution rows, plus the primary tool should it lack one."""
    return union(
        select(C.id.label("commit_id"), C.repository_id.label("repository_id"),
               A.tool.label("tool")).join(A, A.commit_id == C.id).where(where),
        select(C.id, C.repository_id, C.ai_tool).where(where, C.ai_tool.isnot(None)),
    ).subquery("pairs")


def tool_counts(start: date, end: date, tz: str, *, repository_id: int | None = None,
                person: str | None = None, ai_commits: int | None = None,
                team: Team = None) -> list[ToolCount]:
    """AI-attributed commits per tool, most first. `ai_commits` (the share's denominator) is
    counted when not given."""
    where = _scope(start, end, tz, repository_id, person, team)
    pairs = _tool_pairs(where)
    rows = db.session.execute(
        select(pairs.c.tool, func.count().label("n")).group_by(pairs.c.tool)).all()
    if ai_commits is None:
        ai_commits = db.session.execute(
            select(func.count()).select_from(C).where(where, HAS_TOOL)).scalar_one()
    order = {t: i for i, t in enumerate(order_tools([r.tool for r in rows]))}
    return [ToolCount(r.tool, int(r.n), _pct(int(r.n), ai_commits))
            for r in sorted(rows, key=lambda r: (-r.n, order[r.tool]))]


def has_commits(person: str | None = None) -> bool:
    """Whether any commit is stored (by `person`, if given), whatever the range."""
    stmt = select(C.id).limit(1)
    if person is not None:
        stmt = stmt.where(C.person == person)
    return db.session.execute(stmt).first() is not None


# --- the Commits page's repository table ---------------------------------------------------

@dataclass(frozen=True)
class RepoColumn:
    key: str  # what `?sort=` and `?cols=` say
    label: str  # the table and CSV header
    kind: str  # text | int | pct | tools | lines | datetime
    sortable: bool = True
    help: str = ""

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "tools")

    @property
    def default_descending(self) -> bool:
        """Biggest and newest first; repository names A→Z."""
        return self.kind != "text"


REPO_COLUMNS = (
    RepoColumn("repo", "Repository", "text"),
    RepoColumn("commits", "Commits", "int", help="Commits on the default branch in the range"),
    RepoColumn("ai_commits", "AI attributed", "int",
               help="Commits with at least one AI tool found on them"),
    RepoColumn("ai_rate", "AI %", "pct", help="AI-attributed commits ÷ commits"),
    RepoColumn("tool_split", "Tool split", "tools", sortable=False,
               help="AI-attributed commits per tool (a commit with two tools counts for both)"),
    RepoColumn("authors", "Authors", "int", help="Distinct people (or raw identities)"),
    RepoColumn("additions", "Additions", "lines", help="Lines added, over commits with line stats"),
    RepoColumn("deletions", "Deletions", "lines",
               help="Lines deleted, over commits with line stats"),
    RepoColumn("last_commit", "Last commit", "datetime"),
)
REPO_COLUMN_KEYS = tuple(c.key for c in REPO_COLUMNS)
DEFAULT_REPO_SORT = "commits"


class RepoName:
    """`owner/name` split for links to /repositories/<source>/<owner>/<name>."""

    full_name: str

    @property
    def owner(self) -> str:
        return self.full_name.partition("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.partition("/")[2]


@dataclass(frozen=True)
class RepoRow(RepoName):
    repository_id: int
    source: str
    full_name: str
    html_url: str | None
    commits: int
    ai_commits: int
    authors: int
    additions: int | None  # None: no commit here has line stats yet
    deletions: int | None
    with_stats: int
    last_commit: datetime  # in the org time zone
    by_tool: dict[str, int] = field(default_factory=dict)  # tool -> commits


    @property
    def ai_rate(self) -> Decimal:
        return _pct(self.ai_commits, self.commits)

    @property
    def stats_partial(self) -> bool:
        return 0 < self.with_stats < self.commits

    @property
    def split(self) -> list[ToolCount]:
        """Per-tool commits in display order (the tool split bar)."""
        return [ToolCount(t, self.by_tool[t], _pct(self.by_tool[t], self.ai_commits))
                for t in order_tools(list(self.by_tool))]


@dataclass(frozen=True)
class RepoTable(Paged):
    rows: list[RepoRow]
    visible: int  # repositories with commits in the range
    tools: list[str]  # tools found on these rows' commits, display order (CSV columns)
    page: int
    per_page: int | None  # None: every row (CSV)
    sort: str
    descending: bool


def repository_table(start: date, end: date, tz: str, *, sort: str = DEFAULT_REPO_SORT,
                     descending: bool = True, page: int = 1,
                     per_page: int | None = PER_PAGE, team: Team = None) -> RepoTable:
    """One row per repository with commits in the range, sorted and paged in SQL.

    `sort` is a sortable column key (others fall back to commits, descending); ties break by
    name A→Z; missing line stats sort last. A page past the end shows the last page.
    """
    sortable = {c.key for c in REPO_COLUMNS if c.sortable}
    if sort not in sortable:
        sort, descending = DEFAULT_REPO_SORT, True
    where = in_team_days(start, end, tz, team)
    per = (select(
        C.repository_id,
        func.count().label("commits"),
        func.count().filter(HAS_TOOL).label("ai_commits"),
        func.count(distinct(AUTHOR)).label("authors"),
        func.sum(C.additions).filter(HAS_STATS).label("additions"),
        func.sum(C.deletions).filter(HAS_STATS).label("deletions"),
        func.count().filter(HAS_STATS).label("with_stats"),
        func.max(C.committed_at).label("last_commit"),
    ).where(where).group_by(C.repository_id).subquery("per"))
    ai_rate = cast(per.c.ai_commits, Numeric) / per.c.commits
    keys = {"repo": func.lower(R.full_name), "commits": per.c.commits,
            "ai_commits": per.c.ai_commits, "ai_rate": ai_rate, "authors": per.c.authors,
            "additions": per.c.additions, "deletions": per.c.deletions,
            "last_commit": per.c.last_commit}
    key = keys[sort]
    order = key.desc().nulls_last() if descending else key.asc().nulls_last()
    page = max(1, page)

    def fetch(page: int):
        stmt = (select(R.id, R.source, R.full_name, R.html_url, per,
                       func.count().over().label("visible"))
                .join(per, per.c.repository_id == R.id)
                .order_by(order, func.lower(R.full_name), R.id))
        if per_page:
            stmt = stmt.limit(per_page).offset((page - 1) * per_page)
        return db.session.execute(stmt).all()

    result = fetch(page)
    if not result and per_page and page > 1:
        visible = db.session.execute(
            select(func.count(distinct(C.repository_id))).where(where)).scalar_one()
        if visible:
            page = math.ceil(visible / per_page)
            result = fetch(page)
    visible = int(result[0].visible) if result else 0
    zone = ZoneInfo(tz)

    by_repo: dict[int, dict[str, int]] = {}
    all_tools: set[str] = set()
    if result:
        pairs = _tool_pairs(and_(where, C.repository_id.in_([r.id for r in result])))
        for r in db.session.execute(
                select(pairs.c.repository_id, pairs.c.tool, func.count().label("n"))
                .group_by(pairs.c.repository_id, pairs.c.tool)):
            all_tools.add(r.tool)
            by_repo.setdefault(r.repository_id, {})[r.tool] = int(r.n)
    rows = [RepoRow(repository_id=r.id, source=r.source, full_name=r.full_name,
                    html_url=web_url(r.html_url), commits=int(r.commits),
                    ai_commits=int(r.ai_commits), authors=int(r.authors),
                    additions=None if r.additions is None else int(r.additions),
                    deletions=None if r.deletions is None else int(r.deletions),
                    with_stats=int(r.with_stats), last_commit=r.last_commit.astimezone(zone),
                    by_tool=by_repo.get(r.id, {}))
            for r in result]
    return RepoTable(rows=rows, visible=visible, tools=order_tools(all_tools),
                     page=page if rows else 1, per_page=per_page, sort=sort,
                     descending=descending)


# --- one repository ------------------------------------------------------------------------

@dataclass(frozen=True)
class RepositoryInfo(RepoName):
    id: int
    source: str
    full_name: str
    html_url: str | None
    first_commit: datetime | None  # the first and last commit ever stored (org time zone)
    last_commit: datetime | None
    total_commits: int



def find_repository(source: str, full_name: str, tz: str = "UTC") -> RepositoryInfo | None:
    """The repository `owner/name` (GitHub names ignore case), with its stored span (times in
    the org time zone `tz`)."""
    repo = db.session.execute(
        select(R).where(R.source == source, func.lower(R.full_name) == full_name.lower())
        .order_by((R.full_name == full_name).desc()).limit(1)).scalar()
    if repo is None:
        return None
    span = db.session.execute(
        select(func.min(C.committed_at), func.max(C.committed_at), func.count())
        .where(C.repository_id == repo.id)).one()
    zone = ZoneInfo(tz)
    return RepositoryInfo(id=repo.id, source=repo.source, full_name=repo.full_name,
                          html_url=web_url(repo.html_url),
                          first_commit=span[0].astimezone(zone) if span[0] else None,
                          last_commit=span[1].astimezone(zone) if span[1] else None,
                          total_commits=int(span[2]))


@dataclass(frozen=True)
class DailyCommits:
    """Commits per day by primary tool, zero-filled: `human` plus one list per tool, so each
    day's values add up to its commits."""

    days: list[date]
    human: list[int]
    by_tool: dict[str, list[int]]  # display order

    @property
    def total(self) -> int:
        return sum(self.human) + sum(sum(v) for v in self.by_tool.values())


def daily_commits(start: date, end: date, tz: str, *, repository_id: int | None = None,
                  person: str | None = None, team: Team = None) -> DailyCommits:
    """Per day: commits without any tool (human) and commits per primary tool. A commit
    whose primary tool is unset but has attributions stacks under its first tool A→Z."""
    day = commit_day(tz).label("day")
    primary = func.coalesce(
        C.ai_tool,
        select(func.min(A.tool)).where(A.commit_id == C.id).scalar_subquery(),
    ).label("tool")
    rows = db.session.execute(
        select(day, primary, func.count().label("n"))
        .where(_scope(start, end, tz, repository_id, person, team))
        .group_by(day, primary)).all()
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    human = [0] * len(days)
    tools = order_tools([r.tool for r in rows if r.tool])
    by_tool = {t: [0] * len(days) for t in tools}
    for r in rows:
        i = index.get(r.day)
        if i is None:
            continue
        target = by_tool[r.tool] if r.tool else human
        target[i] += int(r.n)
    return DailyCommits(days=days, human=human, by_tool=by_tool)


# --- commit lists --------------------------------------------------------------------------

@dataclass(frozen=True)
class ToolBadge:
    tool: str
    model: str | None


@dataclass(frozen=True)
class CommitRow:
    id: int
    sha: str
    message: str
    committed_at: datetime  # in the org time zone
    author_name: str | None
    author_email: str | None
    author_login: str | None
    person: str | None
    additions: int | None
    deletions: int | None
    html_url: str | None
    repository: str  # owner/name
    repository_source: str
    tools: list[ToolBadge]  # primary first; empty = human

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def title(self) -> str:
        return self.message.strip().split("\n", 1)[0].strip() or "(no message)"

    @property
    def body(self) -> str:
        """The message after its first line (what the row expands to)."""
        parts = self.message.strip().split("\n", 1)
        return parts[1].strip("\n") if len(parts) > 1 else ""

    @property
    def author(self) -> str:
        """Who to show when the commit is not linked to a person."""
        if self.person:
            return self.person
        if self.author_login:
            return self.author_login
        if self.author_name:
            return self.author_name
        if self.author_email:
            return self.author_email.partition("@")[0]
        return "unknown"

    @property
    def has_stats(self) -> bool:
        return self.additions is not None and self.deletions is not None

    @property
    def repository_args(self) -> dict[str, str]:
        """The URL arguments of the repository's page (owner and name split as RepoName)."""
        owner, _, name = self.repository.partition("/")
        return {"source": self.repository_source, "owner": owner, "name": name}


@dataclass(frozen=True)
class CommitPage(Paged):
    rows: list[CommitRow]
    total: int  # commits matching the filter (and visible to the viewer)
    kind: str  # all | ai | human
    page: int
    per_page: int

    @property
    def visible(self) -> int:  # for Paged
        return self.total


def commit_list(start: date, end: date, tz: str, *, repository_id: int | None = None,
                person: str | None = None,
                only_person: str | Collection[str] | None = None, team: Team = None,
                kind: str = "all", page: int = 1, per_page: int = PER_PAGE) -> CommitPage:
    """Commits newest first, `kind` all | ai | human, one page (a page past the end shows
    the last). `only_person` limits the list to that person's commits (member visibility)."""
    kind = kind if kind in FILTERS else "all"
    where = and_(_scope(start, end, tz, repository_id, person, team), _kind(kind))
    if only_person is not None:
        people = [only_person] if isinstance(only_person, str) else sorted(only_person)
        where = and_(where, func.lower(C.person).in_([p.lower() for p in people] or [""]))
    total = db.session.execute(select(func.count()).select_from(C).where(where)).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    result = db.session.execute(
        select(C, R.full_name, R.source).join(R, R.id == C.repository_id).where(where)
        .order_by(C.committed_at.desc(), C.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    ids = [c.id for c, _, _ in result]
    found: dict[int, list[tuple[str, str | None]]] = {}
    if ids:
        for cid, tool, model in db.session.execute(
                select(A.commit_id, A.tool, A.model).where(A.commit_id.in_(ids))):
            found.setdefault(cid, []).append((tool, model))
    zone = ZoneInfo(tz)
    rows = [CommitRow(id=c.id, sha=c.sha, message=c.message or "",
                      committed_at=c.committed_at.astimezone(zone),
                      author_name=c.author_name, author_email=c.author_email,
                      author_login=c.author_login, person=c.person, additions=c.additions,
                      deletions=c.deletions, html_url=web_url(c.html_url), repository=full_name,
                      repository_source=source, tools=_badges(c, found.get(c.id, [])))
            for c, full_name, source in result]
    return CommitPage(rows=rows, total=int(total), kind=kind, page=page, per_page=per_page)


def _badges(commit: C, found: list[tuple[str, str | None]]) -> list[ToolBadge]:
    models = dict(found)
    if commit.ai_tool and commit.ai_tool not in models:
        models[commit.ai_tool] = commit.ai_model
    if commit.ai_tool and commit.ai_model:
        models[commit.ai_tool] = commit.ai_model
    ordered = order_tools(list(models))
    if commit.ai_tool in models:
        ordered.remove(commit.ai_tool)
        ordered.insert(0, commit.ai_tool)
    return [ToolBadge(t, models[t]) for t in ordered]


# --- the Overview's share ------------------------------------------------------------------

@dataclass(frozen=True)
class CommitSummary:
    """What the Overview shows about commits: the range, the previous window, per tool, and
    all time."""

    current: CommitTotals
    previous: CommitTotals
    by_tool: list[ToolCount]
    lifetime_commits: int
    lifetime_ai_commits: int

    @property
    def tool_commits(self) -> dict[str, int]:
        return {t.tool: t.commits for t in self.by_tool}

    @property
    def lifetime_ai_rate(self) -> Decimal:
        return _pct(self.lifetime_ai_commits, self.lifetime_commits)


def commit_summary(start: date, end: date, prev_start: date, prev_end: date,
                   tz: str, team: Team = None) -> CommitSummary | None:
    """The Overview's commit figures, or None while no commit is stored at all."""
    life = db.session.execute(
        select(func.count().label("n"), func.count().filter(HAS_TOOL).label("ai"))
        .select_from(C)).one()
    if not life.n:
        return None
    current = commit_totals(start, end, tz, team=team)
    return CommitSummary(
        current=current, previous=commit_totals(prev_start, prev_end, tz, team=team),
        by_tool=tool_counts(start, end, tz, ai_commits=current.ai_commits, team=team),
        lifetime_commits=int(life.n), lifetime_ai_commits=int(life.ai))


__all__ = ["FILTERS", "HUMAN", "PER_PAGE", "REPO_COLUMNS", "REPO_COLUMN_KEYS", "CommitPage",
           "CommitRow", "CommitSummary", "CommitTotals", "DailyCommits", "RepoColumn",
           "RepoRow", "RepoTable", "RepositoryInfo", "ToolBadge", "ToolCount",
           "commit_list", "commit_summary", "commit_totals", "daily_commits",
           "find_repository", "has_commits", "known_tools", "lifetime_commits",
           "order_tools", "RepoStatus", "repository_status", "GitHubStatus", "github_status",
           "repository_table", "tool_counts",
           "web_url"]

# --- lifetime counts and history state (CLI, Status) -------------------------------------

def lifetime_commits() -> dict[str, Any]:
    """Everything stored: commits, AI-attributed ones, and commits per tool (a commit with
    two tools counts for each)."""
    total, ai = db.session.execute(
        select(func.count(), func.count(C.ai_tool))).one()
    by_tool = dict(db.session.execute(
        select(A.tool, func.count()).group_by(A.tool)).all())
    ordered = {tool: int(by_tool.get(tool, 0)) for tool in TOOLS}
    ordered.update({t: int(n) for t, n in by_tool.items() if t not in ordered})
    return {"total": int(total), "ai_attributed": int(ai), "by_tool": ordered}


@dataclass(frozen=True)
class RepoStatus:
    full_name: str
    default_branch: str | None
    backfill_status: str
    backfill_from: date | None
    synced_through: datetime | None
    parked_until: datetime | None
    last_error: str | None
    commits: int
    without_stats: int
    last_commit_at: datetime | None
    note: str | None = None  # why the history cannot progress (nothing configured for it)


def repository_status() -> list[RepoStatus]:
    """Per repository: history state, commits stored, commits still waiting for line stats."""
    counts = (select(C.repository_id, func.count().label("n"),
                     func.count().filter(C.additions.is_(None)).label("pending"),
                     func.max(C.committed_at).label("last"))
              .group_by(C.repository_id).subquery())
    rows = db.session.execute(
        select(R, counts.c.n, counts.c.pending, counts.c.last)
        .outerjoin(counts, counts.c.repository_id == R.id)
        .order_by(func.lower(R.full_name))).all()
    return [RepoStatus(r.full_name, r.default_branch, r.backfill_status, r.backfill_from,
                       r.synced_through, r.parked_until, r.last_error, int(n or 0),
                       int(pending or 0), last) for r, n, pending, last in rows]


# --- GitHub commits ------------------------------------------------------------------------

@dataclass(frozen=True)
class GitHubStatus:
    webhook_on: bool
    api_configured: bool
    api_url: str
    last_delivery_at: datetime | None
    deliveries_24h: int
    repositories: list[RepoStatus]

    @property
    def in_use(self) -> bool:
        return self.webhook_on or self.api_configured or bool(self.repositories)

    @property
    def attention(self) -> list[Any]:
        return [r for r in self.repositories if r.last_error or r.backfill_status == "failed"]


def github_status(settings: Settings, now: datetime | None = None) -> GitHubStatus:
    """Webhook and API configuration, recent deliveries, and every repository's state."""
    now = now or datetime.now(UTC)
    last, recent = db.session.execute(select(
        func.max(WebhookDelivery.received_at),
        func.count().filter(WebhookDelivery.received_at >= now - timedelta(hours=24)))).one()
    repositories = repository_status()
    if not settings.github_api_configured:
        # Without the REST API a pending history never starts: say so instead of "pending".
        repositories = [replace(r, backfill_status="webhook only", note=API_MISSING)
                        if r.backfill_status == "pending" else r for r in repositories]
    return GitHubStatus(bool(settings.github_webhook_secret), settings.github_api_configured,
                        settings.github_api_url, last, int(recent), repositories)


API_MISSING = ("GITHUB_TOKEN (or a GitHub App) is not set: the history backfill and line "
               "stats cannot run; only pushes from the webhook arrive")
