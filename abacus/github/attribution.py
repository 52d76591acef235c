"""Which AI coding tools a git commit credits (pure: no Flask, no database, no network).

`detect` reads a commit's message and its author/committer identity and returns one
`Attribution` per tool found; `primary` picks the tool a commit is counted under. Everything is
driven by one table, `RULES`: adding a tool is adding `TOOLS` entry plus rows.

Signals, strongest first:
  * ``co_author``: a ``Co-authored-by: Name <email>`` trailer line whose e-mail (stable) or, when
    the e-mail is unknown or missing (``Co-authored-by: Cursor``, ``Claude <noreply>``), whose
    whole name identifies a tool; a model in parentheses after the name is kept
    (``Claude Code (claude-opus-4-5)``, ``codex (gpt-5-codex)``). GitHub's code-scanning
    "Copilot Autofix powered by AI" co-author is GitHub Copilot;
  * ``author`` / ``committer``: the commit's author or committer is the agent or its bot;
    aider's ``Name (aider)`` counts as the *author* only. Aider renames the committer of every
    commit it makes, including the person's own changes it commits for them (``/commit``,
    dirty files before an edit); only the author says aider wrote the change. So a commit
    whose committer alone carries ``(aider)`` is recorded as the person's, with no tool;
  * ``message``: a marker in the text ("Generated with [Claude Code]", "Made-with: Cursor",
    an "aider: " subject, "generated with Copilot", an Amp thread link…).

False-positive guards (trailers are a lower bound; a wrong credit is worse than a missed one):
  * names match whole (``fullmatch``), never as a substring: "Claude Monet" is not Claude;
  * names that are also first names (Claude, Devin, Jules, Amp, Gemini) count only without an
    e-mail, with a ``noreply``-style e-mail or with the vendor's own domain, so
    ``Claude <claude@acme.com>`` stays a person;
  * only the agents' own addresses count, never a vendor's whole domain: Anthropic or Cursor
    employees co-authoring a commit are people (``jane@anthropic.com`` is not Claude Code);
  * GitHub logins count only for bot accounts (``claude[bot]``), since ``claude`` is a person;
  * in prose, common words and first names must be capitalised and not followed by a
    capitalised surname ("fix cursor position", "written by Devin Smith" are not credits), and
    product words need a "generated/written/created/assisted with/using/by" phrase around them.

ReDoS safety: no nested quantifiers, every run is bounded (``{0,200}``), and only the first
64 KiB of a message plus its last 8 KiB (where trailers live) are examined.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..usage.pricing import ANTHROPIC_FAMILIES, canonical_model

# Tool id -> display label. The order is the primary-tool priority.
TOOLS: dict[str, str] = {
    "claude_code": "Claude Code",
    "cursor": "Cursor",
    "github_copilot": "GitHub Copilot",
    "codex": "Codex",
    "windsurf": "Windsurf",
    "aider": "Aider",
    "gemini": "Gemini",
    "devin": "Devin",
    "amp": "Amp",
    "jules": "Jules",
    "opencode": "opencode",
    "openhands": "OpenHands",
}

Signal = Literal["co_author", "author", "committer", "message"]
Source = Literal["email", "name", "login", "message"]

# Stronger signals win when one tool shows up several ways on the same commit.
_SIGNAL_RANK: dict[str, int] = {"co_author": 0, "author": 1, "committer": 2, "message": 3}

HEAD_CHARS = 64 * 1024  # start of the message (subject, body, markers)
TAIL_CHARS = 8 * 1024  # end of the message (the trailers block)
_FIELD_CHARS = 400  # names, e-mails and logins longer than this are not identities
EVIDENCE_CHARS = 200


@dataclass(frozen=True)
class Attribution:
    tool: str  # a TOOLS key
    model: str | None  # "opus-4.5" from "Claude Opus 4.5"; aider's "(<model>)"
    signal: str  # co_author | author | committer | message
    evidence: str  # the matched text, stripped, at most EVIDENCE_CHARS (kept for audit)


@dataclass(frozen=True)
class Rule:
    """One row of the detection table.

    `source` says what `pattern` is matched against: ``email`` (lower-cased address, whole),
    ``name`` (a trailer or author name, whole), ``login`` (GitHub login, whole) or ``message``
    (searched in the commit text). `model_group` names the group holding a model name.
    `email_guard`: for a name that is also a person's name, a present e-mail must match it.
    """

    tool: str
    source: Source
    pattern: re.Pattern[str]
    model_group: str | None = None
    email_guard: re.Pattern[str] | None = None
    not_for: frozenset[str] = frozenset()  # signals this rule does not count for


_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE
_GH = r"@users\.noreply\.github\.com"  # GitHub's noreply domain, "<id>+<login>@..."
_ID = r"(?:[0-9]{1,12}\+)?"


def _email(tool: str, pattern: str) -> Rule:
    return Rule(tool, "email", re.compile(pattern, _I))


def _name(tool: str, pattern: str, *, model: str | None = None,
          person_unless: str | None = None, not_for: frozenset[str] = frozenset()) -> Rule:
    """A whole-name rule; `person_unless` (a domain regex) marks a name people also carry."""
    guard = None
    if person_unless is not None:
        guard = re.compile(rf"no-?reply@[^@\s]{{1,253}}|[^@\s]{{1,64}}@(?:{person_unless})", _I)
    return Rule(tool, "name", re.compile(pattern, _I), model, guard, not_for)


def _login(tool: str, pattern: str) -> Rule:
    return Rule(tool, "login", re.compile(rf"(?:app/)?(?:{pattern})", _I))


def _text(tool: str, pattern: str) -> Rule:
    return Rule(tool, "message", re.compile(pattern, _IM))


# "generated with X", "written by X", ... (the original Abacus phrase rule, word-bounded).
_PHRASE = r"\b(?:generated|written|created|assisted)[ \t]{1,4}(?:with|using|by)[ \t]{1,4}\[?"
# Not followed by a capitalised word: "written by Devin Smith" names a person.
_NO_SURNAME = r"\b(?![ \t]{1,4}(?-i:[A-Z][a-z]))"
_FAMILY = "|".join(sorted(ANTHROPIC_FAMILIES))
_VERSION = r"[0-9]{1,2}(?:\.[0-9]{1,2})?"
_CLAUDE_MODEL = (
    rf"(?P<model>(?:{_FAMILY})(?:[ \t]{{1,4}}{_VERSION})?|{_VERSION}[ \t]{{1,4}}(?:{_FAMILY}))"
)
_FOOTER = r"^[ \t>]{0,16}(?:🤖[ \t]{0,4})?generated[ \t]{1,4}with[ \t]{1,4}"

# A declarative table: rules of one tool repeat one shape on purpose, so each reads (and
# is reviewed) as the evidence it matches.
RULES: tuple[Rule, ...] = (
    # --- Claude Code -------------------------------------------------------------------------
    _email("claude_code", r"no-?reply@anthropic\.com"),
    _email("claude_code", rf"{_ID}claude\[bot\]{_GH}"),
    _name("claude_code",
          rf"claude(?:[ \t-]{{1,4}}code)?[ \t]{{1,4}}{_CLAUDE_MODEL}"
          r"(?:[ \t]{1,4}\([^()\n]{0,60}\))?",
          model="model"),
    _name("claude_code", r"claude[ \t-]{1,4}code|claude\[bot\]"),
    _name("claude_code", r"claude", person_unless=r"anthropic\.com"),
    _login("claude_code", r"claude\[bot\]"),
    _text("claude_code",
          _FOOTER + r"\[?claude[ \t]{1,4}code\b\]?(?:\(https?://[^)\s]{1,100}\))?"),
    _text("claude_code",
          _PHRASE + r"(?-i:Claude)(?:[ \t]{1,4}(?:code|" + _FAMILY + r")\b|" + _NO_SURNAME + ")"),
    # --- Cursor --------------------------------------------------------------------------------
    _email("cursor", r"cursoragent@cursor\.com"),
    _email("cursor", rf"{_ID}cursor(?:agent|\[bot\]){_GH}"),
    _name("cursor", r"cursor(?:[ \t-]{1,4}(?:agent|ai))?|cursoragent|cursor\[bot\]"),
    _login("cursor", r"cursor\[bot\]"),
    _text("cursor", r"^[ \t]{0,16}made-with:[ \t]{0,16}cursor\b"),
    _text("cursor", _PHRASE + r"(?-i:Cursor)(?:[ \t]{1,4}(?:agent|AI)\b|" + _NO_SURNAME + ")"),
    _text("cursor", r"\b(?-i:Cursor)[ -](?:AI[ -])?(?:assisted|generated|helped)\b"),
    # --- GitHub Copilot ------------------------------------------------------------------------
    _email("github_copilot", r"copilot@github\.com"),
    _email("github_copilot", rf"{_ID}copilot(?:-swe-agent)?(?:\[bot\])?{_GH}"),
    # Copilot Autofix (code scanning, code quality) co-authors as GitHub's security bots.
    _email("github_copilot", rf"{_ID}github-(?:advanced-security|code-quality)\[bot\]{_GH}"),
    _name("github_copilot",
          r"copilot[ \t]{1,4}autofix(?:[ \t]{1,4}powered[ \t]{1,4}by[ \t]{1,4}ai)?"),
    _name("github_copilot",
          r"(?:github[ \t]{1,4})?copilot(?:[ \t]{1,4}(?:coding[ \t]{1,4})?agent)?"
          r"|copilot-swe-agent(?:\[bot\])?|copilot\[bot\]"),
    _login("github_copilot", r"copilot|copilot-swe-agent(?:\[bot\])?"),
    _text("github_copilot", _PHRASE + r"(?:github[ \t]{1,4})?copilot\b"),
    _text("github_copilot",
          r"\b(?:github[ \t]{1,4})?copilot[ -](?:assisted|generated|helped|suggestions?)\b"),
    _text("github_copilot",
          r"\baccepted[ \t]{1,4}(?:github[ \t]{1,4})?copilot[ \t]{1,4}suggestions?\b"),
    # --- Codex ---------------------------------------------------------------------------------
    _email("codex", r"(?:noreply|codex)@openai\.com"),
    _email("codex", rf"{_ID}(?:chatgpt-codex-connector|codex)\[bot\]{_GH}"),
    _name("codex",
          r"(?:openai[ \t-]{1,4})?codex(?:[ \t]{1,4}cli)?"
          r"|(?:chatgpt-codex-connector|codex)\[bot\]"),
    _login("codex", r"chatgpt-codex-connector(?:\[bot\])?"),
    _text("codex", _PHRASE + r"(?:openai[ \t]{1,4})?codex\b"),
    _text("codex", r"\bcodex[ -](?:assisted|generated|helped)\b"),
    # --- Windsurf / Codeium --------------------------------------------------------------------
    _email("windsurf", r"(?:no-?reply|windsurf|cascade|codeium)@(?:windsurf|codeium)\.(?:com|ai)"),
    _email("windsurf", rf"{_ID}windsurf-bot\[bot\]{_GH}"),
    _name("windsurf",
          r"(?:windsurf|codeium)(?:[ \t]{1,4}(?:cascade|ai))?"
          r"|(?:windsurf|codeium)(?:-bot)?\[bot\]"),
    _login("windsurf", r"windsurf-bot(?:\[bot\])?"),
    _text("windsurf", _PHRASE + r"(?:windsurf|codeium)\b"),
    _text("windsurf", r"\b(?:windsurf|codeium)[ -](?:ai[ -])?(?:assisted|generated|helped)\b"),
    # --- Aider ---------------------------------------------------------------------------------
    _email("aider", r"(?:no-?reply|aider)@aider\.chat"),
    _name("aider", r"aider(?:[ \t]{0,4}\((?P<model>[^()\n]{1,200})\))?", model="model"),
    # Aider suffixes the human's own name (and keeps their e-mail): "Jane Doe (aider)". As the
    # committer alone it means "committed through aider", not written by it (module docstring).
    _name("aider", r"[^\n]{1,200}[ \t]\(aider\)", not_for=frozenset({"committer"})),
    _text("aider", r"\A[ \t\r\n]{0,8}aider:[ \t][^\n]{0,150}"),
    _text("aider", _PHRASE + r"aider\b"),
    # --- Gemini (Code Assist bot, Gemini CLI) --------------------------------------------------
    _email("gemini", rf"{_ID}gemini-(?:code-assist|cli)(?:\[bot\])?{_GH}"),
    _name("gemini",
          r"(?:google[ \t]{1,4})?gemini[ \t]{1,4}(?:code[ \t]{1,4}assist|cli)"
          r"|gemini-(?:code-assist|cli)(?:\[bot\])?"),
    _name("gemini", r"(?:google[ \t]{1,4})?gemini", person_unless=r"google\.com"),
    _login("gemini", r"gemini-(?:code-assist|cli)(?:\[bot\])?"),
    _text("gemini", _PHRASE + r"(?:google[ \t]{1,4})?(?-i:Gemini)" + _NO_SURNAME),
    _text("gemini", _PHRASE + r"gemini[ \t]{1,4}(?:cli|code[ \t]{1,4}assist)\b"),
    # --- Devin ---------------------------------------------------------------------------------
    _email("devin", rf"{_ID}devin-ai-integration\[bot\]{_GH}"),
    _email("devin", r"devin@devin\.ai"),
    _name("devin", r"devin[ \t]{1,4}ai|devin-ai-integration(?:\[bot\])?"),
    _name("devin", r"devin", person_unless=r"devin\.ai|cognition\.ai"),
    _login("devin", r"devin-ai-integration(?:\[bot\])?"),
    _text("devin", _FOOTER + r"\[devin\]\(https?://[^)\s]{1,100}\)"),
    _text("devin", r"\bapp\.devin\.ai/sessions/[0-9a-z]{1,64}"),
    _text("devin", _PHRASE + r"(?-i:Devin)(?:[ \t]{1,4}AI\b|" + _NO_SURNAME + ")"),
    # --- Amp -----------------------------------------------------------------------------------
    _email("amp", r"(?:amp|no-?reply)@ampcode\.com|amp@sourcegraph\.com"),
    _name("amp", r"amp(?:[ \t-]{1,4}(?:agent|code))?", person_unless=r"ampcode\.com"),
    _text("amp", r"^[ \t]{0,16}amp-thread(?:-id)?:[ \t]{0,16}https?://ampcode\.com/threads/[\w-]{1,80}"),
    _text("amp", _PHRASE + r"(?-i:Amp)" + _NO_SURNAME),
    # --- Jules ---------------------------------------------------------------------------------
    _email("jules", rf"{_ID}google-labs-jules\[bot\]{_GH}"),
    _email("jules", r"jules@google\.com"),
    _name("jules", r"google[ \t]{1,4}jules|google-labs-jules(?:\[bot\])?"),
    _name("jules", r"jules", person_unless=r"google\.com"),
    _login("jules", r"google-labs-jules(?:\[bot\])?"),
    _text("jules", _PHRASE + r"(?:google[ \t]{1,4})?(?-i:Jules)" + _NO_SURNAME),
    # --- opencode ------------------------------------------------------------------------------
    _email("opencode", r"no-?reply@opencode\.ai"),
    _name("opencode", r"opencode(?:-agent\[bot\])?"),
    _text("opencode", _FOOTER + r"\[?opencode\b\]?(?:\(https?://[^)\s]{1,100}\))?"),
    _text("opencode", _PHRASE + r"opencode\b"),
    # --- OpenHands -----------------------------------------------------------------------------
    _email("openhands", r"openhands@all-hands\.dev"),
    _name("openhands", r"openhands(?:-agent)?|openhands\[bot\]"),
    _text("openhands", _PHRASE + r"openhands\b"),
)

if any(rule.tool not in TOOLS for rule in RULES):  # pragma: no cover - a table typo
    raise RuntimeError("attribution rule for a tool missing from TOOLS")

_EMAIL_RULES = tuple(r for r in RULES if r.source == "email")
_NAME_RULES = tuple(r for r in RULES if r.source == "name")
_LOGIN_RULES = tuple(r for r in RULES if r.source == "login")
_TEXT_RULES = tuple(r for r in RULES if r.source == "message")

# A trailer line: key at line start (indent tolerated), value bounded; longer lines are prose.
_TRAILER_RE = re.compile(r"^[ \t]{0,16}co-authored-by[ \t]{0,4}:(?P<value>[^\n]{0,400})$", _IM)


@dataclass(frozen=True)
class _Hit:
    tool: str
    model: str | None
    signal: str
    evidence: str


def _window(message: str) -> str:
    """The part of a message worth reading: its start and its trailers block."""
    if len(message) <= HEAD_CHARS + TAIL_CHARS:
        return message
    tail = message[-TAIL_CHARS:]
    # Start the tail on a whole line so a cut trailer cannot half-match.
    newline = tail.find("\n")
    tail = tail[newline + 1:] if newline >= 0 else ""
    return message[:HEAD_CHARS] + "\n" + tail


def _clean(value: str | None) -> str:
    value = (value or "").strip()
    return value if len(value) <= _FIELD_CHARS else ""


def _split_identity(value: str) -> tuple[str, str]:
    """'Name <email>' -> (name, email); without a closing '<...>' the whole value is the name."""
    value = value.strip()
    lt = value.rfind("<")
    if lt >= 0 and value.endswith(">"):
        return value[:lt].strip(), value[lt + 1:-1].strip()
    return value, ""


def _normalize_model(tool: str, raw: str) -> str:
    if tool == "claude_code":
        # "Opus 4.5" -> "opus-4.5"; the older "3.7 Sonnet" order -> "sonnet-3.7".
        words = raw.lower().split()
        if len(words) == 2 and words[0][0].isdigit():
            words.reverse()
        return "-".join(words)
    return raw.strip()


def _model_from_name(tool: str, name: str) -> str | None:
    for rule in _NAME_RULES:
        if rule.tool == tool and rule.model_group:
            m = rule.pattern.fullmatch(name)
            if m and m.group(rule.model_group):
                return _normalize_model(tool, m.group(rule.model_group))
    return None


# "Claude Code (claude-opus-4-5)": a tool name with its model in parentheses.
_PAREN_MODEL_RE = re.compile(r"(?P<name>[^()\n]{1,200}?)[ \t]{0,4}\((?P<model>[^()\n]{1,200})\)")
_ANTHROPIC_MODEL_RE = re.compile(rf"(?:{_FAMILY})-{_VERSION}")


def _paren_model(tool: str, raw: str) -> str | None:
    raw = raw.strip()
    if tool == "claude_code":  # "claude-opus-4-5" -> "opus-4.5"; "1M context" is no model
        name = canonical_model(raw)
        return name if _ANTHROPIC_MODEL_RE.fullmatch(name) else None
    return raw or None


def _identify_name(name: str, email: str, signal: str) -> tuple[str, str | None] | None:
    for rule in _NAME_RULES:
        if signal in rule.not_for:
            continue
        m = rule.pattern.fullmatch(name)
        if not m:
            continue
        if rule.email_guard is not None and email and not rule.email_guard.fullmatch(email):
            continue  # a person who shares the tool's name
        model = m.group(rule.model_group) if rule.model_group else None
        return rule.tool, _normalize_model(rule.tool, model) if model else None
    return None


def _identify(name: str, email: str, signal: str) -> tuple[str, str | None] | None:
    """(tool, model) for one identity: by e-mail first (stable), then by whole name."""
    email = email.lower()
    if "@" not in email:  # "<noreply>", "<>": no address, so the name decides
        email = ""
    if email:
        for rule in _EMAIL_RULES:
            if rule.pattern.fullmatch(email):
                return rule.tool, _model_from_name(rule.tool, name)
    if not name:
        return None
    found = _identify_name(name, email, signal)
    if found is None and (m := _PAREN_MODEL_RE.fullmatch(name)):
        found = _identify_name(m.group("name"), email, signal)
        if found is not None:
            found = found[0], found[1] or _paren_model(found[0], m.group("model"))
    return found


def _evidence(text: str) -> str:
    return text.strip()[:EVIDENCE_CHARS].strip()


def _person_hits(signal: str, name: str | None, email: str | None,
                 login: str | None) -> list[_Hit]:
    hits: list[_Hit] = []
    name, email = _clean(name), _clean(email)
    found = _identify(name, email, signal)
    if found:
        shown = f"{name} <{email}>" if email else name
        hits.append(_Hit(found[0], found[1], signal, _evidence(shown)))
    login = _clean(login).lower()
    if login:
        for rule in _LOGIN_RULES:
            if rule.pattern.fullmatch(login):
                hits.append(_Hit(rule.tool, None, signal, _evidence(login)))
                break
    return hits


def detect(message: str | None, *, author_name: str | None = None,
           author_email: str | None = None, committer_name: str | None = None,
           committer_email: str | None = None,
           author_login: str | None = None) -> list[Attribution]:
    """All tools found, at most one Attribution per tool (the strongest signal: co_author >
    author > committer > message, but keep the model if any signal of that tool names one),
    ordered by TOOLS order."""
    text = _window(message or "")
    hits: list[_Hit] = []
    for m in _TRAILER_RE.finditer(text):
        name, email = _split_identity(m.group("value"))
        found = _identify(name, email, "co_author")
        if found:
            hits.append(_Hit(found[0], found[1], "co_author", _evidence(m.group(0))))
    hits += _person_hits("author", author_name, author_email, author_login)
    hits += _person_hits("committer", committer_name, committer_email, None)
    for rule in _TEXT_RULES:
        m = rule.pattern.search(text)
        if m:
            hits.append(_Hit(rule.tool, None, "message", _evidence(m.group(0))))

    result: list[Attribution] = []
    for tool in TOOLS:
        mine = [h for h in hits if h.tool == tool]
        if not mine:
            continue
        best = min(mine, key=lambda h: _SIGNAL_RANK[h.signal])  # first of the strongest
        model = best.model or next((h.model for h in mine if h.model), None)
        result.append(Attribution(tool, model, best.signal, best.evidence))
    return result


def primary(attributions: Sequence[Attribution]) -> Attribution | None:
    """The tool a commit is counted under: the first by TOOLS order."""
    order = {tool: i for i, tool in enumerate(TOOLS)}
    return min(attributions, key=lambda a: order.get(a.tool, len(order)), default=None)
