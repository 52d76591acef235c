"""Read side: the numbers pages show, as plain dataclasses, one module per page.

Views never build SQL; they call these functions and render what comes back.
"""

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

__all__ = ["KNOWN_TOOLS", "Daily", "Lifetime", "ModelRow", "Overview", "PersonRow",
           "Projection", "ToolRow", "Totals", "daily_by_tool", "default_range", "lifetime",
           "lifetime_stats", "month_projection", "overview", "totals"]
