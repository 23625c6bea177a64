"""`portside config ...`, `portside purge`, and the recycle-bin commands of `repository` and
`manifest`, against the management API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from portside.config import Settings
from portside.metadata.artifacts import ArtifactStore
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness
from tests.metadata.lifecycle_data import Registry, image, registry


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against the management app, lifecycle service included."""
    with management_harness(settings) as harness:
        yield CliHarness(harness)


@pytest.fixture
def default(portside: CliHarness) -> Registry:
    """The default registry with blobs in repository `app`."""
    return portside.harness.run(registry, portside.harness.db)


def as_json(portside: CliHarness, *args: str) -> object:
    """Run a command with `-o json` and decode its output."""
    result = portside(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_config_policies(portside: CliHarness) -> None:
    shown = portside("config", "show", "-r", "default")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.count("disabled") == 2

    updated = as_json(portside, "config", "retention", "update", "-r", "default", "--days", "0")
    assert updated == {
        "retentionUntaggedDays": 0,
        "softDeleteDays": None,
        "keepOrphanReferrers": False,
    }
    soft = as_json(
        portside, "config", "soft-delete", "update", "-r", "default", "--status", "enabled"
    )
    assert soft == {"retentionUntaggedDays": 0, "softDeleteDays": 7, "keepOrphanReferrers": False}
    as_json(portside, "config", "soft-delete", "update", "-r", "default", "--days", "30")
    kept = as_json(
        portside, "config", "referrers", "update", "-r", "default", "--keep-orphans", "true"
    )
    assert kept == {"retentionUntaggedDays": 0, "softDeleteDays": 30, "keepOrphanReferrers": True}
    off = as_json(
        portside, "config", "retention", "update", "-r", "default", "--status", "disabled"
    )
    assert off == {"retentionUntaggedDays": None, "softDeleteDays": 30, "keepOrphanReferrers": True}
    table = portside("config", "retention", "show", "-r", "default")
    assert "Soft delete (days)" in table.stdout and "30" in table.stdout

    nothing = portside("config", "retention", "update", "-r", "default")
    assert nothing.exit_code == 1 and "nothing to update" in nothing.stderr
    out_of_range = portside("config", "soft-delete", "update", "-r", "default", "--days", "91")
    assert out_of_range.exit_code == 2
    unknown = portside("config", "show", "-r", "nosuch")
    assert unknown.exit_code == 1 and "does not exist" in unknown.stderr


def test_keep_rules(portside: CliHarness) -> None:
    created = as_json(
        portside,
        "config",
        "keep-rule",
        "create",
        "-r",
        "default",
        "--repositories",
        "team/*",
        "--tag-filter",
        "^pr-",
        "--keep",
        "3",
    )
    assert isinstance(created, dict) and created["keepLast"] == 3
    listed = portside("config", "keep-rule", "list", "-r", "default")
    assert listed.exit_code == 0 and "team/*" in listed.stdout and "^pr-" in listed.stdout
    bad = portside(
        "config", "keep-rule", "create", "-r", "default", "--tag-filter", "(", "--keep", "1"
    )
    assert bad.exit_code == 1 and "regular expression" in bad.stderr
    deleted = portside("config", "keep-rule", "delete", str(created["id"]), "-r", "default")
    assert deleted.exit_code == 0, deleted.output
    assert as_json(portside, "config", "keep-rule", "list", "-r", "default") == []


def test_recycle_bin_commands(portside: CliHarness, default: Registry) -> None:
    run = portside.harness.run
    as_json(portside, "config", "soft-delete", "update", "-r", "default", "--days", "7")
    one, two = image(1), image(2)
    run(default.push, one, "v1")
    run(default.push, two, "v2")
    run(default.manifests.delete, default.id, "app", one.digest)

    listed = as_json(portside, "manifest", "list-deleted", "-n", "default", "--repository", "app")
    assert isinstance(listed, list) and [(m["digest"], m["tags"]) for m in listed] == [
        (one.digest, ["v1"])
    ]
    table = portside("manifest", "list-deleted", "-r", "default", "-n", "app")
    assert table.exit_code == 0 and one.digest in table.stdout
    ambiguous = portside(
        "manifest", "list-deleted", "-r", "default", "-n", "x", "--repository", "app"
    )
    assert ambiguous.exit_code == 1

    run(default.push, two, "v1")  # v1 is taken now
    restored = portside(
        "manifest", "restore", "-n", "default", "--repository", "app", "--digest", one.digest
    )
    assert restored.exit_code == 0, restored.output
    assert one.digest in restored.stdout
    assert f"tag v1 was not restored to {one.digest}" in restored.stderr
    assert run(default.digests) == {one.digest, two.digest}

    run(ArtifactStore(portside.harness.db).delete_repository, default.id, "app")
    gone = portside("repository", "list-deleted", "-n", "default")
    assert gone.exit_code == 0 and "app" in gone.stdout
    back = as_json(
        portside, "manifest", "restore", "-r", "default", "-n", "app:again", "-d", two.digest
    )
    assert isinstance(back, dict) and back["tags"] == ["again"]
    assert as_json(portside, "repository", "list-deleted", "-n", "default") == []
    everything = as_json(portside, "repository", "list-deleted", "-n", "default", "--all")
    assert isinstance(everything, list) and everything[0]["live"] is True


def test_purge_command(portside: CliHarness, default: Registry) -> None:
    run = portside.harness.run
    run(default.push, image(1), "v1")
    run(default.push, image(2), "v2")
    run(
        ArtifactStore(portside.harness.db).update_tag,
        default.id,
        "app",
        "v2",
        {"delete_enabled": False},
    )

    dry = portside("purge", "-r", "default", "--filter", "app:.*", "--ago", "0", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "wouldDelete" in dry.stdout and "skipped" in dry.stdout
    assert "Would delete 1 tag(s) and 0 manifest(s); skipped 1 locked item(s)." in dry.stderr
    assert set(run(default.tags)) == {"v1", "v2"}

    items = as_json(
        portside, "purge", "-r", "default", "--filter", "app:^v", "--ago", "0", "--untagged"
    )
    assert isinstance(items, list)
    assert [(i["kind"], i["status"]) for i in items] == [
        ("tag", "skipped"),
        ("tag", "deleted"),
        ("manifest", "deleted"),
    ]
    assert run(default.digests) == {image(2).digest}

    bad = portside("purge", "-r", "default", "--filter", "app:.*", "--ago", "soon")
    assert bad.exit_code == 1 and "not a duration" in bad.stderr
    missing = portside("purge", "-r", "default", "--ago", "1d")
    assert missing.exit_code == 2
