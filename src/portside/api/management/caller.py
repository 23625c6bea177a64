"""Where the management gate leaves the caller it authenticated, for the guards and the audit.

A module of its own: the data plane's audit capture reads the key without importing the
management app (FastAPI and every route's models), which a worker loads only on first use.
"""

from __future__ import annotations

__all__ = ["CALLER_STATE"]

CALLER_STATE = "management_caller"
"""Key of the authenticated `Caller` in the request's state (`scope["state"]`)."""
