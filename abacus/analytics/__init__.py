"""Read side: the numbers pages show, as plain dataclasses, one module per page.

Views never build SQL; they call these functions and render what comes back.
"""

from .commits import (
    CommitPage,
    CommitRow,
    CommitSummary,
    CommitTotals,
    DailyCommits,
    RepoRow,
    RepositoryInfo,
    RepoTable,
    ToolCount,
    commit_list,
    commit_summary,
    commit_totals,
    daily_commits,
    find_repository,
    has_commits,
    repository_table,
    tool_counts,
)
from .common import default_range
from .overview import (
    KNOWN_TOOLS,
    Daily,
    Lifetime,
    ModelRow,
    Overview,
    PersonRow,
    Projection,
    ToolRow,
    Totals,
    daily_by_tool,
    lifetime,
    lifetime_stats,
    month_projection,
    overview,
    totals,
)

__all__ = ["KNOWN_TOOLS", "CommitPage", "CommitRow", "CommitSummary", "CommitTotals", "Daily",
           "DailyCommits", "Lifetime", "ModelRow", "Overview", "PersonRow", "Projection",
           "RepoRow", "RepoTable", "RepositoryInfo", "ToolCount", "ToolRow", "Totals",
           "commit_list", "commit_summary", "commit_totals", "daily_by_tool", "daily_commits",
           "default_range", "find_repository", "has_commits", "lifetime", "lifetime_stats",
           "month_projection", "overview", "repository_table", "tool_counts", "totals"]
