"""Events: webhooks with ACR's payloads, delivered from a transactional outbox.

`EventContext` (the request behind a change) is defined beside the outbox writes in
metadata/webhooks.py and named here for the HTTP layer. The audit log is audit.py.
"""

from __future__ import annotations

from portside.metadata.webhooks import EventContext

__all__ = ["EventContext"]
