"""`portside gc`: collects over the configured database and storage, or only reports."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
from click.testing import CliRunner, Result

from portside.cli.main import cli
from portside.config import Settings
from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.leases import LeaseStore
from portside.oci.digests import Digest
from portside.services.content.manifests import Reference
from portside.services.lifecycle.gc import LEASE
from portside.storage.filesystem import FilesystemDriver
from tests.services.gc_support import Node

# The shortest grace the CLI takes (> 0): everything populate() made is older than this.
TINY = "0.0001"

ENV: dict[str, str | None] = {
    "PORTSIDE_CONFIG": None,
    "PORTSIDE_DATABASE_URL": None,
    "PORTSIDE_STORAGE_DRIVER": None,
    "PORTSIDE_STORAGE_PATH": None,
}


def portside(*args: str) -> Result:
    """Run `portside ARGS`."""
    return CliRunner().invoke(cli, list(args), env=ENV, catch_exceptions=False)


def populate(settings: Settings) -> int:
    """An image kept, an image deleted and a lone blob; the bytes that can be freed."""

    async def run() -> None:
        db = Database(settings.resolved_database_url())
        try:
            node = Node(db, FilesystemDriver(settings.resolved_storage_path()))
            app = await node.target("app")
            await node.push_image(app, b"config-1", [b"base", b"one"], "v1")
            gone = await node.push_image(app, b"config-2", [b"base", b"two"], "v2")
            await node.manifests.delete(app, Reference(digest=gone))
            await node.upload(app, b"lone")
            await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(b"lone")))
        finally:
            await db.close()

    anyio.run(run)
    time.sleep(0.05)  # everything is now older than the TINY grace period
    return len(b"config-2") + len(b"two") + len(b"lone")


def blob_files(settings: Settings) -> set[str]:
    """Names of the blob files in storage."""
    return {
        path.name
        for path in (settings.resolved_storage_path() / "blobs").rglob("*")
        if path.is_file()
    }


def test_dry_run_reports_and_changes_nothing(settings: Settings) -> None:
    freed = populate(settings)
    before = blob_files(settings)
    result = portside(
        "gc",
        "--data-dir",
        str(settings.data_dir),
        "--dry-run",
        "--grace-minutes",
        TINY,
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert (report["links_removed"], report["blobs_removed"], report["bytes_freed"]) == (
        2,
        3,
        freed,
    )
    assert blob_files(settings) == before
    table = portside(
        "gc", "--data-dir", str(settings.data_dir), "--dry-run", "--grace-minutes", TINY
    )
    assert "Dry run: nothing was changed" in table.stdout
    assert "Blobs would be removed" in table.stdout
    assert f"{freed:,} ({freed} B)" in table.stdout
    assert blob_files(settings) == before


def test_collects_and_prints_a_summary(settings: Settings) -> None:
    freed = populate(settings)
    before = blob_files(settings)
    result = portside("gc", "--data-dir", str(settings.data_dir), "--grace-minutes", TINY)
    assert result.exit_code == 0, result.output
    lines = {" ".join(line.strip("│ ").split()) for line in result.stdout.splitlines()}
    assert "Blob links removed │ 2" in lines, result.stdout
    assert "Blobs removed │ 3" in lines
    assert f"Bytes freed │ {freed} ({freed} B)" in lines
    assert any(line.startswith("Duration │") for line in lines)
    gone = {str(Digest.of(data).hex) for data in (b"config-2", b"two", b"lone")}
    assert blob_files(settings) == before - gone
    again = json.loads(
        portside(
            "gc", "--data-dir", str(settings.data_dir), "--grace-minutes", TINY, "-o", "json"
        ).stdout
    )
    assert (again["dry_run"], again["links_removed"], again["blobs_removed"]) == (False, 0, 0)


def test_the_grace_period_defaults_to_the_setting(settings: Settings) -> None:
    populate(settings)
    before = blob_files(settings)
    result = portside("gc", "--data-dir", str(settings.data_dir), "-o", "json")
    report = json.loads(result.stdout)
    assert (report["links_removed"], report["blobs_removed"]) == (0, 0), "all younger than 60 min"
    assert blob_files(settings) == before


def test_refuses_while_another_collector_runs(settings: Settings) -> None:
    populate(settings)

    async def hold() -> None:
        db = Database(settings.resolved_database_url())
        try:
            from datetime import timedelta

            assert await LeaseStore(db).acquire(LEASE, "server-1", timedelta(minutes=5))
        finally:
            await db.close()

    anyio.run(hold)
    result = CliRunner().invoke(cli, ["gc", "--data-dir", str(settings.data_dir)], env=ENV)
    assert result.exit_code == 1
    assert "another collector is running (server-1)" in result.output


def test_reads_a_config_file(settings: Settings, tmp_path: Path) -> None:
    populate(settings)
    config = tmp_path / "portside.toml"
    config.write_text(f'[portside]\ndata_dir = "{settings.data_dir}"\ngc_grace_minutes = 0.0001\n')
    result = portside("gc", "--config", str(config), "-o", "json")
    assert json.loads(result.stdout)["blobs_removed"] == 3


def test_a_zero_grace_period_is_refused_as_the_setting_refuses_it(settings: Settings) -> None:
    populate(settings)
    before = blob_files(settings)
    for value in ("0", "-1"):
        result = portside("gc", "--data-dir", str(settings.data_dir), "--grace-minutes", value)
        assert result.exit_code == 2, result.output
        assert "--grace-minutes" in result.output
        assert "x>0" in result.output
    assert blob_files(settings) == before
