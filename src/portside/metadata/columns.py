"""Column types and the MetaData every table module registers its tables on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, MetaData, String, TypeDecorator
from sqlalchemy import true as sql_true
from sqlalchemy.engine import Dialect

__all__ = ["UTCDateTime", "lexical", "lock_columns", "metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read back."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def lexical(length: int) -> String:
    """A name column that sorts and compares by code point, as the distribution spec's
    "lexical order" requires: SQLite does by default; PostgreSQL needs the "C" collation, or a
    database created with a natural-language locale would page tags and the catalog in its
    own order."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def lock_columns() -> list[Column[bool]]:
    """ACR's changeable attributes: what may be done to a repository, manifest or tag."""
    return [
        Column(f"{flag}_enabled", Boolean, nullable=False, server_default=sql_true())
        for flag in ("delete", "write", "read", "list")
    ]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
