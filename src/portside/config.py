"""Settings: the one place that reads the environment and configuration files.

Precedence, highest first: command-line options, `PORTSIDE_*` environment variables, the TOML
file given with `--config` (or `PORTSIDE_CONFIG`), then the defaults below. Every setting is
documented in docs/configuration.md.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "LocationSettings",
    "Settings",
    "TrustedIssuerSettings",
    "load_settings",
    "metrics_directory",
    "metrics_for_workers",
    "settings_for_workers",
    "settings_from_environment",
]

# Set by `portside serve`: the file its worker processes read their settings from.
_SETTINGS_FILE = "PORTSIDE_SETTINGS_FILE"
# prometheus-client's own variable: where its multiprocess mode keeps each process's values.
_METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
_LOCATION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class TrustedIssuerSettings(BaseModel):
    """An OIDC issuer whose tokens `/oauth2/exchange` accepts (federated sign-in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(description="The `iss` its tokens carry.")
    audience: str = Field(description="The `aud` its tokens must carry for Portside.")
    jwks_file: Path | None = Field(None, description="Its signing keys, as a JWKS file.")
    jwks_url: str | None = Field(None, description="Or where to fetch its JWKS.")
    groups_claim: str = Field("groups", description="Claim holding the caller's groups.")
    tenant: str | None = Field(None, description="Only for exchanges naming this tenant.")


class LocationSettings(BaseModel):
    """The storage of one location (`[portside.locations.NAME]`); unset fields are the node's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage_driver: Literal["filesystem", "memory", "s3", "azure"] | None = None
    storage_path: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = Field(None, repr=False)
    s3_prefix: str | None = None
    azure_container: str | None = None
    azure_connection_string: str | None = Field(None, repr=False)
    azure_account_name: str | None = None
    azure_account_key: str | None = Field(None, repr=False)
    azure_endpoint: str | None = None
    azure_prefix: str | None = None


class Settings(BaseSettings):
    """Everything configurable about a Portside process."""

    model_config = SettingsConfigDict(env_prefix="PORTSIDE_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(5000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(
        default_factory=lambda: _cores(),
        ge=1,
        le=64,
        description="Server worker processes (default: one per core this process may use).",
    )
    data_dir: Path = Field(Path("data"), description="Where embedded metadata and blobs live.")
    database_url: str | None = Field(
        None,
        repr=False,  # it may carry the database password
        description="SQLAlchemy async URL; default SQLite at <data_dir>/portside.db.",
    )
    database_read_url: str | None = Field(
        None,
        repr=False,  # it may carry the database password
        description="PostgreSQL streaming read replica of database_url (this location's hot "
        "standby): serves reads by digest, and every read while the primary is lost.",
    )
    database_pool_size: int = Field(5, ge=1, description="PostgreSQL connections kept per process.")
    database_max_overflow: int = Field(
        10, ge=0, description="Extra PostgreSQL connections a process may open under load."
    )
    database_pool_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for a connection."
    )
    database_pool_recycle: float = Field(
        1800.0, gt=0, description="Seconds after which a pooled connection is replaced."
    )
    storage_driver: Literal["filesystem", "memory", "s3", "azure"] = Field(
        "filesystem", description="Where blob bytes are stored."
    )
    storage_path: Path | None = Field(
        None, description="Root of the filesystem driver; default <data_dir>/blobs."
    )
    blob_redirect_seconds: int = Field(
        0,
        ge=0,
        le=7 * 24 * 3600,
        description="If > 0 and the driver can presign, blob GETs answer 307 to a URL valid "
        "this long (as ACR's data endpoints do); 0 serves bytes through Portside.",
    )
    accel_redirect_prefix: str = Field(
        "",
        pattern=r"^(/[A-Za-z0-9._~-]+)*/$|^$",
        description="Behind nginx on the same machine, filesystem driver only: blob GETs answer "
        "`X-Accel-Redirect: <prefix><storage key>` (after access control) and nginx sends the "
        "file from an `internal` location aliasing the storage root (docs/operations.md). "
        "Empty (the default) serves the bytes from Portside.",
    )
    s3_bucket: str = Field("", description="S3 bucket (storage_driver = s3).")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint; None for AWS.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: str | None = Field(None, description="None: botocore's credential chain.")
    s3_secret_access_key: str | None = Field(None, repr=False)
    s3_session_token: str | None = Field(None, repr=False)
    s3_prefix: str = Field("", description="Key prefix inside the bucket.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field("auto")
    s3_part_size: int = Field(16 << 20, description="Multipart part size in bytes.")
    s3_copy_concurrency: int = Field(8, ge=1)
    s3_max_connections: int = Field(64, ge=1)
    s3_conditional_writes: bool = Field(True, description="Off for stores without If-Match.")
    azure_container: str = Field("", description="Blob container (storage_driver = azure).")
    azure_connection_string: str | None = Field(None, repr=False)
    azure_account_name: str | None = Field(None)
    azure_account_key: str | None = Field(None, repr=False)
    azure_endpoint: str | None = Field(None, description="Blob service URL.")
    azure_prefix: str = Field("")
    azure_block_size: int = Field(16 << 20, description="Block size in bytes.")
    azure_read_chunk_size: int = Field(8 << 20)
    azure_commit_concurrency: int = Field(8, ge=1, description="Block copies in flight.")
    azure_copy_timeout_seconds: float = Field(600.0, gt=0)
    default_registry: str = Field(
        "default", description="Registry that answers requests for hosts no registry claims."
    )
    domain: str = Field(
        "localhost",
        description="Registry NAME's login server is NAME.<domain> (with the port unless 443); "
        "requests are routed to registries by their Host.",
    )
    anonymous_loopback: bool = Field(
        True,
        description="While listening on loopback only, the default registry accepts anonymous "
        "push and pull (a local development registry). Elsewhere credentials are required.",
    )
    local_login_ports: int = Field(
        100,
        ge=0,
        le=1000,
        description="While listening on loopback only, each registry but the default gets a "
        "login server of its own on a loopback port (`127.0.0.1:5001`), which Docker reaches "
        "over plain HTTP without DNS or TLS: this many ports, from `local_login_first_port` "
        "(0 switches them off; registries beyond them keep NAME.<domain> only).",
    )
    local_login_first_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The first port of the loopback login servers; 0: the port after `port`.",
    )
    admin_password: str | None = Field(
        None,
        repr=False,
        description="The deployment administrator's password for the management API; if "
        "unset, one is generated at first start and printed once.",
    )
    token_issuer: str = Field("portside", description="`iss` of the tokens Portside signs.")
    signing_algorithm: Literal["ES256", "RS256"] = Field(
        "ES256", description="Algorithm of signing keys created from now on."
    )
    access_token_seconds: int = Field(
        900, ge=60, le=24 * 3600, description="Lifetime of access tokens."
    )
    refresh_token_seconds: int = Field(
        3 * 3600, ge=300, le=90 * 24 * 3600, description="Lifetime of refresh tokens (ACR: 3 h)."
    )
    portal_session_seconds: int = Field(
        8 * 3600,
        ge=300,
        le=7 * 24 * 3600,
        description="Lifetime of a web portal sign-in (sign out or a renewed secret ends it "
        "sooner).",
    )
    federated_session_max_seconds: int = Field(
        8 * 3600,
        ge=300,
        le=90 * 24 * 3600,
        description="Longest a federated sign-in lasts: refresh tokens obtained at "
        "/oauth2/exchange, and every one renewed from them, end by then (or earlier, when the "
        "issuer's token expires earlier); then the caller must sign in at its issuer again.",
    )
    login_max_failures: int = Field(
        10,
        ge=1,
        description="Failed logins per user name, client address and registry before a lockout.",
    )
    login_lockout_seconds: float = Field(60.0, gt=0, description="How long a lockout lasts.")
    request_rate_limits: bool = Field(
        True,
        description="Enforce registries' request rate limits (their SKU's reads and writes per "
        "minute, or their overrides); false switches them off for every registry.",
    )
    request_rate_window_seconds: int = Field(
        60,
        ge=1,
        le=60,
        description="Length of the fixed window the request rate limits count in. Limits keep "
        "their per-minute names and are counted per window whatever its length: keep ACR's 60 "
        "(shorter windows exist to try clients' handling of 429 without waiting minutes).",
    )
    trusted_issuers: tuple[TrustedIssuerSettings, ...] = Field(
        (),
        description="OIDC issuers trusted for federated sign-in (`[[portside.trusted_issuers]]`).",
    )
    trust_forwarded_proto: bool = Field(
        False,
        description="Behind a proxy that terminates TLS: token-auth challenges take their "
        "scheme from X-Forwarded-Proto (only set this when the proxy overwrites that header).",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate chain: serve HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key of `tls_cert`.")
    upload_expiry_hours: float = Field(
        24.0, gt=0, description="Upload sessions idle this long are removed with their bytes."
    )
    upload_sweep_seconds: float = Field(
        600.0, gt=0, description="How often each process looks for expired uploads."
    )
    gc_interval_seconds: float = Field(
        3600.0, ge=0, description="How often the collector runs inside the server (0: never)."
    )
    gc_grace_minutes: float = Field(
        60.0,
        gt=0,
        description="Blob links and blobs younger than this (or used this recently) are never "
        "collected: the time a push has between uploading a layer and pushing its manifest.",
    )
    webhook_poll_seconds: float = Field(
        1.0, ge=0, description="How often due webhook events are looked for (0: never deliver)."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="How long one webhook delivery may take."
    )
    webhook_retry_seconds: float = Field(
        86400.0,
        ge=0,
        description="How long a webhook event is retried before it is marked failed.",
    )
    webhook_retry_first_seconds: float = Field(
        5.0, gt=0, description="The first retry delay of a webhook event (it doubles each time)."
    )
    webhook_event_retention_days: float = Field(
        30.0, ge=0, description="Days settled webhook events are kept (0: for ever)."
    )
    allow_private_network_targets: bool = Field(
        False,
        description="Let webhooks, imports and cache rules reach loopback, link-local and private "
        "addresses.",
    )
    secrets_key: str | None = Field(
        None,
        repr=False,
        description="32 random bytes, base64: seals the passwords of credential sets. If unset, "
        "a key is generated and kept in the database (a copy of the database then reveals them).",
    )
    insecure_upstreams: tuple[str, ...] = Field(
        (),
        description="Upstream registries (`host` or `host:port`) that imports and cache rules "
        "reach over plain HTTP; every other upstream but loopback needs HTTPS.",
    )
    lifecycle_interval_seconds: float = Field(
        3600.0,
        ge=0,
        description="How often retention rules and the recycle bin's expiry run (0: never).",
    )
    audit_retention_days: float = Field(
        90.0, ge=0, description="How long audit log records are kept (0: forever)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per log line, with the request id."
    )
    access_log: bool = Field(False, description="Log one line per request.")
    metrics_token: str | None = Field(
        None,
        repr=False,
        description="If set, GET /metrics requires `Authorization: Bearer <token>`; if unset, "
        "/metrics answers only while the server listens on loopback (404 otherwise).",
    )

    location: str | None = Field(
        None,
        pattern=_LOCATION.pattern,
        description="This node's location (region) for geo-replication; None: not replicated.",
    )
    locations: dict[str, LocationSettings] = Field(
        default_factory=dict,
        description="Every location's storage (`[portside.locations.NAME]`): where a node "
        "reads blobs its own location lacks, and where replication copies from.",
    )
    replication_poll_seconds: float = Field(
        2.0, ge=0, description="How often a node looks for blobs to copy into its location."
    )
    replication_concurrency: int = Field(4, ge=1, le=64, description="Blob copies in flight.")

    @model_validator(mode="after")
    def _location_names(self) -> Settings:
        bad = [name for name in self.locations if not _LOCATION.fullmatch(name)]
        if bad:
            raise ValueError(f"location names are lower-case letters, digits and '-': {bad}")
        return self

    def location_settings(self, name: str) -> Settings:
        """These settings with the storage of location `name` (the node's own: unchanged)."""
        if name == self.location or name not in self.locations:
            return self
        given = self.locations[name].model_dump(exclude_none=True)
        return self.model_copy(update=given)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'portside.db').resolve()}"

    def section(self, prefix: str) -> dict[str, Any]:
        """The settings named `<prefix>...`, keyed without the prefix (a driver's options)."""
        return {
            name.removeprefix(prefix): getattr(self, name)
            for name in type(self).model_fields
            if name.startswith(prefix)
        }

    def listens_on_loopback(self) -> bool:
        """True if the server accepts connections from this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def local_login_port_range(self) -> range | None:
        """The ports of the loopback login servers (slot N on the N-th), or None when there
        are none: off loopback, switched off, or with no main port to count from."""
        if not self.listens_on_loopback() or self.local_login_ports == 0:
            return None
        first = self.local_login_first_port or (self.port + 1 if self.port else 0)
        if not first:
            return None
        return range(first, min(first + self.local_login_ports, 65536)) or None

    @model_validator(mode="after")
    def _main_port_outside_login_ports(self) -> Settings:
        first, count = self.local_login_first_port, self.local_login_ports
        if first and count and first <= self.port < first + count:
            raise ValueError(
                f"port {self.port} lies among the loopback login servers' ports "
                f"({first}-{first + count - 1}): move local_login_first_port"
            )
        return self

    def resolved_storage_path(self) -> Path:
        """The filesystem driver's root."""
        return (self.storage_path or self.data_dir / "blobs").resolve()

    def storage_description(self) -> str:
        """Where blobs live, for the start line: a path, `s3://bucket`, `azure://account/container`.

        Never a secret: no key, no connection string, no query string of an endpoint (a SAS).
        """
        if self.storage_driver == "filesystem":
            return f"filesystem {self.resolved_storage_path()}"
        if self.storage_driver == "memory":
            return "memory (lost when the process ends)"
        if self.storage_driver == "s3":
            where = f"s3://{self.s3_bucket}/{self.s3_prefix}".rstrip("/")
            endpoint = self.s3_endpoint_url
            return f"{where} at {_shown_endpoint(endpoint)}" if endpoint else f"{where} (AWS)"
        fields = _connection_string_fields(self.azure_connection_string or "")
        endpoint = self.azure_endpoint or fields.get("blobendpoint")
        account = self.azure_account_name or fields.get("accountname")
        if not account and endpoint:
            account = urlsplit(endpoint).hostname
        where = f"azure://{account or '?'}/{self.azure_container}/{self.azure_prefix}".rstrip("/")
        return f"{where} at {_shown_endpoint(endpoint)}" if endpoint else where


def _shown_endpoint(url: str) -> str:
    """`url` without user, password, query or fragment (which may hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


def _connection_string_fields(text: str) -> dict[str, str]:
    """An Azure connection string's `Name=value` fields, names in lower case."""
    fields = (part.partition("=") for part in text.split(";"))
    return {name.strip().lower(): value.strip() for name, _, value in fields if value}


def _cores() -> int:
    """The cores this process may run on (its affinity, as a container's cpuset limits it),
    1 to 64."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    return max(1, min(count, 64))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from a TOML file, the environment, and explicit overrides."""
    path = config_file or (
        Path(os.environ["PORTSIDE_CONFIG"]) if "PORTSIDE_CONFIG" in os.environ else None
    )
    from_file: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as handle:
            from_file = tomllib.load(handle).get("portside", {})
    from_env = Settings().model_dump(exclude_unset=True)
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings.model_validate({**from_file, **from_env, **given})


@contextlib.contextmanager
def settings_for_workers(settings: Settings) -> Iterator[None]:
    """Inside: worker processes started now build `settings`, and inherit no secret.

    Workers are separate processes that must build exactly the settings `portside serve`
    resolved (command-line options included). They once got them as JSON in an environment
    variable, secrets included, readable in /proc/PID/environ and inherited by every child
    process. Now the JSON goes to a file only this user can read (0600, in a 0700 directory of
    its own), the environment carries its path, and the PORTSIDE_* variables of secret settings
    are taken out of the environment the workers inherit. On exit the file is removed and the
    environment restored. (A server killed with SIGKILL leaves the private directory behind.)
    """
    directory = Path(tempfile.mkdtemp(prefix="portside-settings-"))
    try:
        path = directory / "settings.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(settings.model_dump_json())
        hidden = {name: os.environ.pop(name) for name in list(os.environ) if _is_secret(name)}
        os.environ[_SETTINGS_FILE] = str(path)
        try:
            yield
        finally:
            os.environ.pop(_SETTINGS_FILE, None)
            os.environ.update(hidden)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def metrics_for_workers() -> Iterator[Path]:
    """Inside: processes started now keep their metrics in one private directory (yielded).

    prometheus-client reads the variable when it is first imported, so this must be entered
    before anything imports it (the server stack is imported after). Each worker writes its
    values there and a scrape of any worker sums them all. On exit the directory is removed;
    a directory inherited from the environment (an operator's choice) is used and kept.
    """
    given = os.environ.get(_METRICS_DIRECTORY)
    if given:
        yield Path(given)
        return
    directory = Path(tempfile.mkdtemp(prefix="portside-metrics-"))
    os.environ[_METRICS_DIRECTORY] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(_METRICS_DIRECTORY, None)
        shutil.rmtree(directory, ignore_errors=True)


def metrics_directory() -> Path | None:
    """The directory worker processes share their metrics in, or None in a single process."""
    given = os.environ.get(_METRICS_DIRECTORY)
    return Path(given) if given else None


def _is_secret(variable: str) -> bool:
    """Whether an environment variable sets a secret setting (those with repr=False)."""
    name = variable.upper()
    if not name.startswith("PORTSIDE_"):
        return False
    field = Settings.model_fields.get(name.removeprefix("PORTSIDE_").lower())
    return field is not None and field.repr is False


def settings_from_environment() -> Settings:
    """Settings in a worker: those `portside serve` left in its file, else load them."""
    path = os.environ.get(_SETTINGS_FILE)
    if path:
        return Settings.model_validate_json(Path(path).read_text(encoding="utf-8"))
    return load_settings()
