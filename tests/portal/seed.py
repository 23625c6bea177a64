"""Seeding a running server's metadata database directly, for the portal's load figures:
thousands of repositories or tags in one transaction instead of thousands of pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, update

from portside.metadata.schema import manifests, registries, repositories, tags

__all__ = ["seed_repositories", "seed_tags"]


def _engine(data_dir: Path):  # type: ignore[no-untyped-def]
    return create_engine(f"sqlite:///{data_dir / 'portside.db'}")


def seed_repositories(data_dir: Path, registry: str, count: int) -> None:
    """Add `count` empty repositories with multi-level names to `registry`."""
    now = datetime.now(UTC)
    engine = _engine(data_dir)
    with engine.begin() as conn:
        registry_id = conn.scalar(select(registries.c.id).where(registries.c.name == registry))
        rows = [
            {
                "registry_id": registry_id,
                "name": f"dept{i % 40:02d}/team{i % 7}/service{i:05d}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
        conn.execute(insert(repositories), rows)
    engine.dispose()


def seed_tags(data_dir: Path, registry: str, repository: str, count: int) -> None:
    """Add `count` tags to `repository` of `registry`, all naming its one pushed manifest."""
    start = datetime.now(UTC) - timedelta(days=30)
    engine = _engine(data_dir)
    with engine.begin() as conn:
        repo_id = conn.scalar(
            select(repositories.c.id)
            .join(registries, registries.c.id == repositories.c.registry_id)
            .where(registries.c.name == registry, repositories.c.name == repository)
        )
        manifest_id = conn.scalar(
            select(manifests.c.id).where(manifests.c.repository_id == repo_id)
        )
        rows = [
            {
                "repository_id": repo_id,
                "name": f"build-{i:04d}",
                "manifest_id": manifest_id,
                "created_at": start + timedelta(minutes=i),
                "updated_at": start + timedelta(minutes=i),
            }
            for i in range(count)
        ]
        conn.execute(insert(tags), rows)
        conn.execute(
            update(repositories)
            .where(repositories.c.id == repo_id)
            .values(tags_version=repositories.c.tags_version + 1)
        )
    engine.dispose()
