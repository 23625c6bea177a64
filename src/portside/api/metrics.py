"""`GET /metrics` (the Prometheus text format) and the observer that feeds it each exchange.

Who may scrape: with the setting `metrics_token`, a caller presenting
`Authorization: Bearer <token>` (compared in constant time; anything else is 401); without it,
anyone, but only while the server listens on loopback, and nobody otherwise (404, as if there
were no such page: traffic figures and route names are not for the internet).
"""

from __future__ import annotations

import hmac
from typing import Any, TypeVar, cast

from prometheus_client.metrics import MetricWrapperBase
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from portside.api.credentials import credentials_of
from portside.api.middleware import Exchange
from portside.api.state import app_state
from portside.auth.credentials import Bearer
from portside.runtime.metrics import CONTENT_TYPE, Metrics

__all__ = ["RequestMetrics", "metrics"]

_Labelled = TypeVar("_Labelled", bound=MetricWrapperBase)
# The methods counted by name; any other (the client chooses it: HTTP allows any token) is
# counted as "other", so a caller cannot add label values, and series, without end.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Counts each exchange the middleware reports into the process's metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        # Each labelled child looked up once: `labels()` takes a lock and converts its values
        # on every call, a cost paid by every blob and manifest request. The keys are the
        # series the metrics already hold (route templates, methods and statuses: bounded).
        self._children: dict[tuple[object, ...], Any] = {}

    def upload_started(self) -> None:
        """One more upload request in progress."""
        self._metrics.uploads_in_progress.inc()

    def finished(self, exchange: Exchange) -> None:
        """Count the exchange by route template, method and status."""
        m, route = self._metrics, exchange.route
        method = exchange.method if exchange.method in _METHODS else "other"
        self._child(m.requests, route, method, str(exchange.status)).inc()
        self._child(m.request_seconds, route, method).observe(exchange.seconds)
        if exchange.bytes_in:
            self._child(m.bytes_in, route).inc(exchange.bytes_in)
        if exchange.bytes_out:
            self._child(m.bytes_out, route).inc(exchange.bytes_out)
        if exchange.status == 429:
            self._child(m.throttled, route).inc()
        if exchange.upload:
            m.uploads_in_progress.dec()

    def _child(self, metric: _Labelled, *values: str) -> _Labelled:
        """`metric.labels(*values)`, from the cache after the first time."""
        key = (id(metric), *values)  # the metrics live as long as this object
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return cast(_Labelled, child)


async def metrics(request: Request) -> Response:
    """The process's (or all workers') metrics, to those allowed to scrape them."""
    runtime = app_state(request)
    token = runtime.settings.metrics_token
    if token is None:
        if not runtime.settings.listens_on_loopback():
            raise HTTPException(404)  # answered as any unknown path is
    elif not _presents(request, token):
        raise HTTPException(401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE)


def _presents(request: Request, token: str) -> bool:
    """Whether the request carries `token` as its bearer credential."""
    credentials = credentials_of(request.headers)
    if not isinstance(credentials, Bearer):
        return False
    return hmac.compare_digest(credentials.token.encode(), token.encode())
