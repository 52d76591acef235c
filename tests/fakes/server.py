"""The fake-server base lives in `abacus.providers.testing` (provider plugin authors use it too)."""

from collections.abc import Callable

from abacus.providers.testing import FakeServer, Fault, Handler, Reply, Request

__all__ = ["Fault", "FakeServer", "Handler", "Reply", "Request", "limit_arg"]


def limit_arg(request: Request, default: int, maximum: int, invalid: Callable[[str], Reply],
              not_integer: str, out_of_range: str) -> int | Reply:
    """The `limit` query argument (`default` when absent, 1 to `maximum`), or the fake's
    `invalid(message)` reply in its own API's words."""
    raw = request.arg("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        return invalid(not_integer)
    if not 1 <= limit <= maximum:
        return invalid(out_of_range)
    return limit
