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
functions, so that the other commands start without SQLAlchemy. `Runtime` and `Stores` are
imported on their first use (`__getattr__` below), not with the package: `ready_to_serve`
and `migrate_apart` load neither SQLAlchemy nor the services, nor Alembic into the caller
(cli/server/serve.py says why).
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import TYPE_CHECKING

from portside.config import Settings

if TYPE_CHECKING:
    from portside.runtime.root import Runtime
    from portside.runtime.stores import Stores

__all__ = ["Runtime", "Stores", "migrate", "migrate_apart", "ready_to_serve"]

log = logging.getLogger("portside.metadata.migrate")

_LAZY = {"Runtime": "portside.runtime.root", "Stores": "portside.runtime.stores"}


def __getattr__(name: str) -> object:
    """`Runtime` and `Stores`, their modules (and SQLAlchemy) imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def migrate_apart(settings: Settings) -> None:
    """`migrate` in a forked child process, waited for; RuntimeError if it failed (the child
    logged why). Alembic and the migration scripts (~11 MiB resident) then never enter this
    process: `portside serve`'s, whose pages each of granian's workers starts with."""
    from portside.metadata.database import shown_url

    # Said here, where the caller's logging is: the child's lines go to the same stream, but
    # not to a handler that only collects in memory (as the tests' do).
    log.info("metadata: %s", shown_url(settings.resolved_database_url()))
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's exit status is what the parent checks)
        status = 1
        try:
            log.setLevel(logging.WARNING)  # the parent named the database already
            migrate(settings)
            status = 0
        except BaseException:
            log.exception("the database migration failed")
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the database migration failed (the log above says why)")


def ready_to_serve(settings: Settings) -> bool:
    """True if the configured database needs nothing before the server's workers start: an
    SQLite file at the newest schema whose administrator has a password (configured or
    stored). Checked with the standard library; False means `migrate` and the first-start
    steps must run (they decide, as always)."""
    from portside.metadata.revisions import sqlite_ready

    configured = bool(settings.admin_password)
    return sqlite_ready(settings.resolved_database_url(), configured_admin_password=configured)


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
