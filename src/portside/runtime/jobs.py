"""Background jobs the composition root starts that belong to no single service.

The periodic garbage collection (`collect_periodically`, services/lifecycle/gc.py) and
lifecycle runs (`run_lifecycle_periodically`, services/lifecycle/service.py) live with their
services; `Runtime.start_jobs` starts them all.
"""

from __future__ import annotations

import logging

import anyio

from portside.logs import job_failed
from portside.services.content.uploads import UploadService

__all__ = ["sweep_uploads_periodically"]

log = logging.getLogger("portside")


async def sweep_uploads_periodically(uploads: UploadService, interval: float) -> None:
    """Remove expired upload sessions now and then; every process may do it (idempotent)."""
    while True:
        try:
            # Shielded: shutdown waits for a sweep in progress rather than cutting a database
            # transaction in half (which left aiosqlite's worker without its event loop).
            with anyio.CancelScope(shield=True):
                removed = await uploads.expire_idle()
            if removed:
                log.info("removed %d expired upload session(s)", removed)
        except Exception:
            job_failed(log, "sweeping expired uploads failed; will retry")
        await anyio.sleep(interval)
