"""Settings: the one place that reads the environment and configuration files.

Precedence, highest first: command-line options, `PORTSIDE_*` environment variables, the TOML
file given with `--config` (or `PORTSIDE_CONFIG`), then the defaults below. Every setting is
documented in docs/configuration.md.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings", "settings_from_environment"]

# Set by `portside serve` so that every worker process builds the same settings.
_RESOLVED = "PORTSIDE_RESOLVED_SETTINGS"


class Settings(BaseSettings):
    """Everything configurable about a Portside process."""

    model_config = SettingsConfigDict(env_prefix="PORTSIDE_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(5000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(1, ge=1, le=64, description="Server worker processes.")
    data_dir: Path = Field(Path("data"), description="Where embedded metadata and blobs live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default SQLite at <data_dir>/portside.db."
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
    storage_driver: Literal["filesystem", "memory"] = Field(
        "filesystem", description="Where blob bytes are stored."
    )
    storage_path: Path | None = Field(
        None, description="Root of the filesystem driver; default <data_dir>/blobs."
    )
    default_registry: str = Field(
        "default", description="Registry that answers requests for hosts no registry claims."
    )
    upload_expiry_hours: float = Field(
        24.0, gt=0, description="Upload sessions idle this long are removed with their bytes."
    )
    upload_sweep_seconds: float = Field(
        600.0, gt=0, description="How often each process looks for expired uploads."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")
    access_log: bool = Field(False, description="Log one line per request.")

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'portside.db').resolve()}"

    def resolved_storage_path(self) -> Path:
        """The filesystem driver's root."""
        return (self.storage_path or self.data_dir / "blobs").resolve()


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


def export_for_workers(settings: Settings) -> None:
    """Put resolved settings in the environment for worker processes to pick up."""
    os.environ[_RESOLVED] = settings.model_dump_json()


def settings_from_environment() -> Settings:
    """Settings in a worker: those exported by `portside serve`, else from the environment."""
    resolved = os.environ.get(_RESOLVED)
    if resolved:
        return Settings.model_validate_json(resolved)
    return load_settings()
