"""The fake-server base lives in `abacus.providers.testing` (provider plugin authors use it too)."""

from abacus.providers.testing import FakeServer, Fault, Handler, Reply, Request

__all__ = ["Fault", "FakeServer", "Handler", "Reply", "Request"]
