"""Settings that derive values: the loopback login servers' ports (config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from portside.config import LocationSettings, Settings, load_settings


def test_loopback_login_ports_follow_the_main_port_on_loopback_only() -> None:
    assert Settings().local_login_port_range() == range(5001, 5101)
    assert Settings(host="localhost", port=8000).local_login_port_range() == range(8001, 8101)
    assert Settings(host="::1", local_login_ports=2).local_login_port_range() == range(5001, 5003)
    assert Settings(local_login_first_port=6000).local_login_port_range() == range(6000, 6100)
    # The last ports of the range end at 65535.
    assert Settings(port=65500).local_login_port_range() == range(65501, 65536)
    for off in (
        Settings(host="0.0.0.0"),
        Settings(host="registry.example.com"),
        Settings(local_login_ports=0),
        Settings(port=0),
        Settings(port=65535),
    ):
        assert off.local_login_port_range() is None


def test_the_main_port_cannot_be_among_the_login_ports() -> None:
    with pytest.raises(ValidationError, match="local_login_first_port"):
        Settings(port=5050, local_login_first_port=5001)


def test_workers_default_to_one_per_core_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("PORTSIDE_WORKERS", raising=False)
    assert Settings().workers == max(1, min(len(os.sched_getaffinity(0)), 64))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(200)))
    assert Settings().workers == 64
    monkeypatch.setenv("PORTSIDE_WORKERS", "1")
    assert Settings().workers == 1
    assert Settings(workers=3).workers == 3


def test_locations_give_their_storage_over_the_nodes_settings(tmp_path: Path) -> None:
    """A location's section replaces the storage settings it names, and only those."""
    config = tmp_path / "portside.toml"
    config.write_text(
        "[portside]\n"
        'location = "westeurope"\n'
        'storage_driver = "s3"\n'
        's3_bucket = "west"\n'
        's3_access_key_id = "shared-key"\n'
        "[portside.locations.eastus]\n"
        's3_bucket = "east"\n'
        "[portside.locations.onprem]\n"
        'storage_driver = "filesystem"\n'
        'storage_path = "/srv/blobs"\n'
    )
    settings = load_settings(config)
    east = settings.location_settings("eastus")
    assert (east.storage_driver, east.s3_bucket, east.s3_access_key_id) == (
        "s3",
        "east",
        "shared-key",
    )
    assert settings.location_settings("onprem").storage_description() == "filesystem /srv/blobs"
    assert settings.location_settings("westeurope") is settings
    with pytest.raises(ValueError, match="location names"):
        Settings(locations={"East US": LocationSettings()})
    with pytest.raises(ValueError):
        Settings(location="East US")
