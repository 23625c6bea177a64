"""`/healthz` (the process answers) and `/readyz` (its database and storage answer).

Load balancers take a node out of rotation when /readyz fails. Neither needs credentials, and
neither says more than "ok" or which dependency failed.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.state import app_state
from portside.storage.errors import ObjectNotFound

__all__ = ["healthz", "readyz"]

log = logging.getLogger("portside.health")
# Never written: a stat that answers "not found" proves the storage backend is reachable.
_PROBE_KEY = "health/probe"


async def healthz(request: Request) -> Response:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database and the blob storage both answer."""
    state = app_state(request)
    checks: dict[str, str] = {}
    try:
        await state.database.ping()
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        checks["database"] = "unreachable"
    try:
        await state.driver.stat(_PROBE_KEY)
        checks["storage"] = "ok"
    except ObjectNotFound:
        checks["storage"] = "ok"
    except Exception as exc:
        log.warning("readiness: storage unreachable: %s", exc)
        checks["storage"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", **checks}, 200 if ready else 503
    )
