"""Read side: the numbers pages show, as plain dataclasses, one module per page.

Views never build SQL; they call these functions and render what comes back.
"""

from .common import default_range
from .overview import (
    KNOWN_TOOLS,
    ModelRow,
    Overview,
    PersonRow,
    ToolRow,
    lifetime_stats,
    overview,
)

__all__ = ["KNOWN_TOOLS", "ModelRow", "Overview", "PersonRow", "ToolRow", "default_range",
           "lifetime_stats", "overview"]
