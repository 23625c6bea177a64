"""`Metrics`: the process's Prometheus instruments, in a registry of their own.

Labels are bounded by construction: routes are templates (`/v2/{name}/manifests/{reference}`),
never raw paths; storage operations and job outcomes are fixed words. The instruments are built
per `Metrics` object (no import-time state); the composition root hands the object to the parts
it times, as plain callables where the part lives below the runtime (storage, metadata).

Several worker processes (`portside serve --workers N`): `portside serve` gives them a private
directory (`config.metrics_directory`) where prometheus-client's multiprocess mode keeps each
process's values in files; `exposition()` then sums the files of all workers, so any worker's
scrape shows the whole server.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""Media type of `Metrics.exposition()` (the Prometheus text format)."""

# Requests range from a cached manifest HEAD (sub-millisecond) to a multi-GiB layer upload.
_REQUEST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_CALL_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)


class Metrics:
    """The instruments of one process and their exposition."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        """`multiprocess_dir`: the workers' shared directory, or None for one process."""
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "portside_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "portside_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["route", "method"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.bytes_in = Counter(
            "portside_http_request_bytes",
            "Request body bytes received, by route template.",
            ["route"],
            registry=r,
        )
        self.bytes_out = Counter(
            "portside_http_response_bytes",
            "Response body bytes sent (or announced, for files sent by the server), by route.",
            ["route"],
            registry=r,
        )
        self.uploads_in_progress = Gauge(
            "portside_uploads_in_progress",
            "Blob upload requests (start, chunk, finish) being served now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.throttled = Counter(
            "portside_throttled_requests",
            "Requests answered 429 Too Many Requests, by route template.",
            ["route"],
            registry=r,
        )
        self.rate_limited = Counter(
            "portside_rate_limited_requests",
            "Requests refused by a registry's rate limit, by kind (read or write).",
            ["kind"],
            registry=r,
        )
        self.login_failures = Counter(
            "portside_login_failures",
            "Failed sign-ins (a wrong password or secret for a known or unknown name).",
            registry=r,
        )
        self.database_seconds = Histogram(
            "portside_database_transaction_duration_seconds",
            "Metadata database transactions, by kind (read or write), connection wait included.",
            ["kind"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.storage_seconds = Histogram(
            "portside_storage_call_duration_seconds",
            "Storage driver calls, by operation and outcome (ok or error); reads until the "
            "stream ends.",
            ["operation", "outcome"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.job_runs = Counter(
            "portside_job_runs",
            "Background job runs (gc, lifecycle) by outcome: ran, skipped (another node holds "
            "the lease) or failed.",
            ["job", "outcome"],
            registry=r,
        )

        self.webhook_deliveries = Counter(
            "portside_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, retry (will be tried again) or "
            "failed (given up).",
            ["outcome"],
            registry=r,
        )
        self.webhook_queue = Gauge(
            "portside_webhook_events_pending",
            "Webhook events waiting for delivery, as the delivering process last counted them "
            "(once per poll).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )

    def database_transaction(self, kind: str, seconds: float) -> None:
        """Record one database transaction (the hook `Database` calls)."""
        self.database_seconds.labels(kind).observe(seconds)

    def storage_call(self, operation: str, outcome: str, seconds: float) -> None:
        """Record one storage driver call (the hook `TimedDriver` calls)."""
        self.storage_seconds.labels(operation, outcome).observe(seconds)

    def login_failed(self) -> None:
        """Count one failed sign-in (the hook the login throttle calls)."""
        self.login_failures.inc()

    def request_refused(self, kind: str) -> None:
        """Count one request refused by a rate limit (the hook the request throttle calls)."""
        self.rate_limited.labels(kind).inc()

    def job_ran(self, job: str, outcome: str) -> None:
        """Count one run of a background job."""
        self.job_runs.labels(job, outcome).inc()

    def webhook_attempted(self, outcome: str) -> None:
        """Count one webhook delivery attempt (the hook the deliverer calls)."""
        self.webhook_deliveries.labels(outcome).inc()

    def webhook_pending(self, count: int) -> None:
        """Set the webhook outbox's depth (the deliverer's count at its last poll)."""
        self.webhook_queue.set(count)

    def exposition(self) -> bytes:
        """The Prometheus text exposition: of every worker when several share a directory."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        # The documented pattern: a fresh registry per scrape over the workers' files.
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(combined)

    def process_exited(self, pid: int) -> None:
        """Drop the live gauges of a process that stops (its in-progress count is over)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(pid, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
