"""The OpenAPI 3.1 document of the JSON API (`/api/v1/openapi.json`), built from one table
of parameters and schemas so every route shares their descriptions. A test checks that the
document's paths and the app's `/api/v1` routes are the same set."""

from __future__ import annotations

from typing import Any

MAX_PER_PAGE = 1000  # api.MAX_PER_PAGE (api imports this module, not the other way round)

_MONEY = {"type": ["string", "null"], "pattern": r"^-?\d+\.\d{2,}$",
          "description": "US dollars as an exact decimal string (at least two decimals); "
                         "null when no event of the row has a known price"}
_MONEY_SET = {"type": "string", "pattern": r"^-?\d+\.\d{2,}$",
              "description": "US dollars as an exact decimal string (at least two decimals)"}
_INT = {"type": "integer"}
_DAY = {"type": "string", "format": "date"}

PARAMETERS: dict[str, dict[str, Any]] = {
    "start": {"name": "start", "in": "query", "schema": _DAY,
              "description": "First day (YYYY-MM-DD, org time zone), inclusive. With `end` "
                             "(default today); ranges are limited to 1098 days."},
    "end": {"name": "end", "in": "query", "schema": _DAY,
            "description": "Last day (YYYY-MM-DD), inclusive; not before `start`."},
    "days": {"name": "days", "in": "query",
             "schema": {"type": "integer", "enum": [7, 30, 90, 365]},
             "description": "A preset range ending today, when `start`/`end` are not given "
                            "(default 30)."},
    "page": {"name": "page", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1},
             "description": "1-based page number."},
    "per_page": {"name": "per_page", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                            "default": 100},
                 "description": "Rows per page."},
    "tool": {"name": "tool", "in": "query", "schema": {"type": "string"},
             "description": "Only this tool (its id: claude_code, cursor, copilot, …)."},
    "email": {"name": "email", "in": "query", "schema": {"type": "string"},
              "description": "Only this person's rows (an e-mail, or an unmapped identity). "
                             "A token may name only people its role may see (403 otherwise)."},
    "by_tool": {"name": "by_tool", "in": "query",
                "schema": {"type": "boolean", "default": False},
                "description": "One row per day and tool instead of per day."},
    "q": {"name": "q", "in": "query", "schema": {"type": "string"},
          "description": "Keep people whose e-mail or identity contains this text "
                         "(ignored for tokens limited to their own row)."},
    "sort": {"name": "sort", "in": "query", "schema": {"type": "string"},
             "description": "A Team page column: person, tokens, cost, input, output, "
                            "cache_write, cache_read, days, avg_tokens, avg_cost, first, last, "
                            "or tool:<id>."},
    "dir": {"name": "dir", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]},
            "description": "Sort direction."},
    "grain": {"name": "grain", "in": "query",
              "schema": {"type": "string", "enum": ["day", "month"], "default": "day"},
              "description": "One row per day or per calendar month (and tool)."},
}
RANGE = ("start", "end", "days")
PAGING = ("page", "per_page")

_FIGURES = {
    "tokens": _INT, "input_tokens": _INT, "output_tokens": _INT, "cache_write_tokens": _INT,
    "cache_read_tokens": _INT, "cost_usd": _MONEY,
    "reported_cost_usd": {**_MONEY_SET, "description": "The part of the cost the provider "
                                                       "reported (billed)."},
    "estimated_cost_usd": {**_MONEY_SET, "description": "The part estimated from tokens × "
                                                        "prices."},
    "events": _INT, "unpriced_events": {**_INT, "description": "Events without a known "
                                                               "price (left out of the cost)."},
}


def _object(properties: dict[str, Any], description: str = "",
            optional: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": sorted(set(properties) - set(optional))}
    if description:
        schema["description"] = description
    return schema


_NOT_CHARGED = {**_INT, "description": "Events the provider says were not charged ($0)."}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _object({"error": {"type": "string"},
                      "parameter": {"type": "string",
                                    "description": "The query parameter at fault."}},
                     optional=("parameter",)),
    "DailyUsage": _object({"day": _DAY, "tool": {"type": "string"}, **_FIGURES,
                           "not_charged_events": _NOT_CHARGED},
                          "`tool` is present with by_tool=true.", optional=("tool",)),
    "PersonUsage": _object({
        "person": {"type": "string", "description": "E-mail, or the provider identity when "
                                                    "not mapped to a person yet"},
        "mapped": {"type": "boolean"},
        **{k: v for k, v in _FIGURES.items() if k not in ("reported_cost_usd",
                                                          "estimated_cost_usd")},
        "tokens_by_tool": {"type": "object", "additionalProperties": _INT},
        "days_active": _INT, "first_active": {"type": ["string", "null"], "format": "date"},
        "last_active": {"type": ["string", "null"], "format": "date"}}),
    "ToolUsage": _object({"tool": {"type": "string"}, **_FIGURES, "people": _INT}),
    "ModelUsage": _object({"model": {"type": "string"}, **_FIGURES, "people": _INT}),
    "Team": _object({"id": _INT, "name": {"type": "string"},
                     "parent_id": {"type": ["integer", "null"]},
                     "cost_centre": {"type": ["string", "null"]}, "source": {"type": "string"},
                     "members": {**_INT, "description": "People in the team (not its "
                                                        "subtree) on some day of the range"},
                     "leads": _INT}),
    "Cost": _object({"day": _DAY, "month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                     "tool": {"type": "string"}, **_FIGURES,
                     "not_charged_events": _NOT_CHARGED},
                    "`day` with grain=day, `month` (YYYY-MM) with grain=month.",
                    optional=("day", "month")),
}


def _listing(item: str) -> dict[str, Any]:
    return {"type": "object",
            "required": ["start", "end", "timezone", "page", "per_page", "total", "next",
                         "data"],
            "properties": {
                "start": _DAY, "end": _DAY,
                "timezone": {"type": "string", "description": "The org time zone of days"},
                "page": _INT, "per_page": _INT,
                "total": {**_INT, "description": "Rows matching, over every page"},
                "next": {"type": ["string", "null"],
                         "description": "Path of the next page; null on the last"},
                "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {"400": _error("A query parameter cannot be used (`parameter` names it)"),
          "401": _error("No token, or an unknown or revoked one (WWW-Authenticate: Bearer)"),
          "403": _error("The token's role may not read this"),
          "405": _error("Anything but GET")}

# path → (operation id, summary, parameters, item schema)
ROUTES: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "/api/v1/usage/daily": ("usageDaily", "Usage per day (or day and tool), team-wide or of "
                            "one person", (*RANGE, "tool", "email", "by_tool", *PAGING),
                            "DailyUsage"),
    "/api/v1/usage/by-person": ("usageByPerson", "Usage per person, most cost first (the Team "
                                "page's rows; a member token under ABACUS_MEMBER_VISIBILITY="
                                "self gets its own row only)",
                                (*RANGE, "q", "sort", "dir", *PAGING), "PersonUsage"),
    "/api/v1/usage/by-tool": ("usageByTool", "Usage per tool (the Usage page's tools view)",
                              (*RANGE, *PAGING), "ToolUsage"),
    "/api/v1/usage/by-model": ("usageByModel", "Usage per model (the Usage page's models "
                               "view)", (*RANGE, *PAGING), "ModelUsage"),
    "/api/v1/people": ("people", "People with usage in the range and their totals, A→Z",
                       (*RANGE, "q", "sort", "dir", *PAGING), "PersonUsage"),
    "/api/v1/teams": ("teams", "Teams with parent, cost centre and head counts",
                      (*RANGE, *PAGING), "Team"),
    "/api/v1/costs": ("costs", "Cost per day or month and tool, reported vs estimated "
                      "(admin and finance tokens)", (*RANGE, "grain", "tool", *PAGING), "Cost"),
}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        path: {"get": {
            "operationId": op, "summary": summary,
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in names],
            "responses": {"200": {"description": "A page of rows", "content": {
                "application/json": {"schema": _listing(item)}}}, **ERRORS}}}
        for path, (op, summary, names, item) in ROUTES.items()}
    paths["/api/v1/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document", "security": [],
        "responses": {"200": {"description": "The OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Abacus JSON API", "version": "1",
                 "description": "Read-only usage and cost of AI coding tools. Authenticate "
                                "with `Authorization: Bearer TOKEN` (an API token made in "
                                "Admin → API tokens or with `flask abacus api-tokens add`). "
                                "Days are in the org time zone; money is an exact decimal "
                                "string."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": PARAMETERS,
            "schemas": SCHEMAS,
        },
    }
