"""The composition root: every entry point builds Portside's parts here, from the settings.

`Runtime(settings)` (runtime/root.py) is the one place that knows how the parts fit together:
the database, the storage driver (storage/factory.py), every store (runtime/stores.py), the
services of each capability (content, access, management, lifecycle) and the background jobs
(`Runtime.start_jobs`). The data-plane and management apps (api/app.py), `portside serve`,
`portside admin`, `portside gc` and the test harnesses all take their parts from it, so a new
service or job is wired once, here.

Each part is built on first use, once, from the parts it needs: an entry point builds only
what it touches (`portside admin` opens no storage driver and so imports no object-store
SDK). `aclose()`, or leaving `async with`, closes what was built. A database or driver handed
in (one shared by several runtimes, as the tests' nodes share them) is used, never closed.

Nothing below `api/` imports this package; `cli/` server commands import it inside their
functions, so that the other commands start without SQLAlchemy.
"""

from __future__ import annotations

import logging

from portside.config import Settings
from portside.runtime.root import Runtime
from portside.runtime.stores import Stores

__all__ = ["Runtime", "Stores", "migrate"]

log = logging.getLogger("portside.metadata.migrate")


def migrate(settings: Settings) -> None:
    """Bring the configured database to the newest schema (call it where no loop runs)."""
    from portside.metadata.revisions import sqlite_is_current

    url = settings.resolved_database_url()
    if sqlite_is_current(url):  # the usual start: no Alembic at all (metadata/revisions.py)
        log.info("metadata: %s (schema current)", url)
        return
    # Imported here: Alembic is for the serving process's start, not for its workers.
    from portside.metadata.migrate import upgrade

    issuers = tuple(trusted.issuer for trusted in settings.trusted_issuers)
    upgrade(settings.resolved_database_url(), trusted_issuers=issuers)
