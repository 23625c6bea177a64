"""Purge (as acr purge) on every metadata backend: filters, ages, --keep, --untagged,
--dry-run, locked items; and the parsing of filters and durations."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest
from sqlalchemy import update

from portside.config import Settings
from portside.metadata.artifacts import ArtifactStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.schema import tags
from portside.runtime import Runtime
from portside.services.lifecycle.purge import (
    PurgeRequest,
    compile_expression,
    parse_ago,
    parse_filter,
)
from portside.services.lifecycle.service import LifecycleService
from portside.services.management.errors import Invalid
from tests.metadata.lifecycle_data import Registry, image, index, registry

pytestmark = pytest.mark.anyio


def lifecycle_service(db: Database) -> LifecycleService:
    """The lifecycle service over `db`, as the composition root builds it."""
    return Runtime(Settings(), database=db).lifecycle


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("2d3h15m", timedelta(days=2, hours=3, minutes=15)),
        ("1.5h", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("1d1d", timedelta(days=2)),
    ],
)
def test_ago_takes_acrs_durations(text: str, expected: timedelta) -> None:
    assert parse_ago(text) == expected


@pytest.mark.parametrize("text", ["", "2", "d", "-1d", "2w", "1h 2m", "1.h", "99999999d", "abc"])
def test_ago_refuses_anything_else(text: str) -> None:
    with pytest.raises(Invalid):
        parse_ago(text)


def test_filters_split_at_the_first_colon() -> None:
    parsed = parse_filter("team/.*:^v1\\..*")
    assert parsed.repository.pattern == "team/.*" and parsed.tag.pattern == "^v1\\..*"
    for bad in ("app", ":v1", "app:", "app:(", "[:x"):
        with pytest.raises(Invalid):
            parse_filter(bad)


# Exponential for a backtracking engine (Python's re takes ~2**n steps on n letters a): a
# user's filter must not stall the event loop. The timeout turns such a stall into a failure.
CATASTROPHIC = "(a|a)*b"


@pytest.mark.timeout(30)
def test_expressions_match_in_time_linear_in_the_text() -> None:
    expression = compile_expression(CATASTROPHIC, "tag expression")
    assert not expression.search("a" * 64)
    assert not expression.fullmatch("a" * 64)
    assert expression.search("a" * 64 + "b")
    assert compile_expression("^v1\\.", "tag expression").search("v1.2")
    assert not compile_expression("^v1\\.", "tag expression").search("v12")


@pytest.mark.parametrize(
    ("text", "named"),
    [("(a)\\1", "backreference"), ("v(?=1)", "lookaround"), ("(?<!x)y", "lookaround")],
)
def test_what_re2_does_not_support_is_refused_with_a_clear_message(text: str, named: str) -> None:
    with pytest.raises(Invalid) as refused:
        compile_expression(text, "tag expression")
    message = str(refused.value)
    assert "RE2" in message and named in message


async def _aged(reg: Registry, ages: dict[str, timedelta]) -> None:
    """Set the tags' last update `age` ago."""
    now = utcnow()
    async with reg.db.write() as conn:
        for name, age in ages.items():
            await conn.execute(update(tags).where(tags.c.name == name).values(updated_at=now - age))


async def _setup(db: Database) -> Registry:
    reg = await registry(db)
    await reg.link("web")
    for n, tag in enumerate(["v1", "v2", "v3", "dev-1", "dev-2"]):
        await reg.push(image(n), tag)
    await reg.push(image(10), "v1", repository="web")
    await _aged(
        reg,
        {
            "v1": timedelta(days=5),
            "v2": timedelta(days=4),
            "v3": timedelta(hours=1),
            "dev-1": timedelta(days=3),
            "dev-2": timedelta(days=2),
        },
    )
    return reg


def _request(*filters: str, **options: object) -> PurgeRequest:
    return PurgeRequest(filters=filters, **options)  # type: ignore[arg-type]


async def test_purge_deletes_matching_tags_older_than_ago(db: Database) -> None:
    reg = await _setup(db)
    result = await lifecycle_service(db).purge("default", _request("app:^v", ago="1d"))
    assert not result.dry_run
    assert [(r.kind, r.tags, r.reason, r.skipped) for r in result.items] == [
        ("tag", ("v1",), "filter app:^v", None),
        ("tag", ("v2",), "filter app:^v", None),
    ]
    assert set(await reg.tags()) == {"v3", "dev-1", "dev-2"}
    assert await reg.tags("web") == {"v1": image(10).digest}  # the filter names `app` only
    assert len(await reg.digests()) == 5  # without --untagged the manifests stay


async def test_keep_keeps_the_newest_of_those_that_would_go(db: Database) -> None:
    reg = await _setup(db)
    result = await lifecycle_service(db).purge(
        "default", _request("app:.*", "a.p:dev", ago="0", keep=2)
    )
    # Eligible by age 0: every tag; newest first v3, dev-2, dev-1, v2, v1: the two newest stay.
    assert [r.tags for r in result.items] == [("v1",), ("v2",), ("dev-1",)]
    assert set(await reg.tags()) == {"v3", "dev-2"}


async def test_filters_of_one_repository_keep_n_for_the_repository_not_per_filter(
    db: Database,
) -> None:
    """acr purge joins a repository's filters into one expression before applying --keep."""
    reg = await _setup(db)
    result = await lifecycle_service(db).purge(
        "default", _request("app:^v", "app:^dev", "web:^v", ago="0", keep=1)
    )
    # app: ^v|^dev matches every tag, newest first v3, dev-2, dev-1, v2, v1: only v3 stays
    # (per filter, v3 and dev-2 would both stay). web has one tag, which stays.
    assert [(r.repository, r.tags) for r in result.items] == [
        ("app", ("v1",)),
        ("app", ("v2",)),
        ("app", ("dev-1",)),
        ("app", ("dev-2",)),
    ]
    assert [r.reason for r in result.items] == [
        "filter app:^v",
        "filter app:^v",
        "filter app:^dev",
        "filter app:^dev",
    ]
    assert set(await reg.tags()) == {"v3"}
    assert set(await reg.tags("web")) == {"v1"}


async def test_untagged_goes_too_but_not_children_or_referrers_of_live_manifests(
    db: Database,
) -> None:
    reg = await _setup(db)
    child, loose = image(20), image(21)
    await reg.push(child)
    await reg.push(loose)
    await reg.push(index(30, [child]), "multi")
    kept_referrer = image(22, subject=image(2))  # a referrer of v3's manifest
    referrer = image(23, subject=image(0))  # a referrer of v1's manifest
    await reg.push(kept_referrer)
    await reg.push(referrer)

    result = await lifecycle_service(db).purge(
        "default", _request("app:^v1$", ago="1d", untagged=True)
    )
    assert [(r.kind, r.digest, r.reason) for r in result.items] == [
        ("tag", image(0).digest, "filter app:^v1$"),
        ("manifest", image(0).digest, "untagged"),
        ("manifest", referrer.digest, f"referrer of {image(0).digest}"),
        ("manifest", loose.digest, "untagged"),
    ]
    remaining = await reg.digests()
    assert {child.digest, kept_referrer.digest, index(30, [child]).digest} <= remaining
    assert image(0).digest not in remaining and loose.digest not in remaining


async def test_dry_run_reports_the_same_and_changes_nothing(db: Database) -> None:
    reg = await _setup(db)
    await reg.push(image(23, subject=image(0)))
    request = {"ago": "1d", "untagged": True, "keep": 1}
    tags_before, digests_before = await reg.tags(), await reg.digests()
    service = lifecycle_service(db)

    dry = await service.purge("default", _request("app:.*", dry_run=True, **request))
    assert dry.dry_run
    assert await reg.tags() == tags_before and await reg.digests() == digests_before
    real = await service.purge("default", _request("app:.*", **request))
    assert [(r.kind, r.digest, r.tags, r.reason) for r in dry.items] == [
        (r.kind, r.digest, r.tags, r.reason) for r in real.items
    ]
    assert len(real.items) == 7  # v1, v2, dev-1 and their three manifests, v1's referrer


async def test_locked_items_are_skipped_and_reported(db: Database) -> None:
    reg = await _setup(db)
    artifacts = ArtifactStore(db)
    await artifacts.update_tag(reg.id, "app", "v1", {"delete_enabled": False})
    await reg.push(image(40))
    await artifacts.update_manifest(reg.id, "app", image(40).digest, {"write_enabled": False})
    await artifacts.update_repository(reg.id, "web", {"delete_enabled": False})

    result = await lifecycle_service(db).purge(
        "default", _request(".*:^v[12]$", ago="1h", untagged=True)
    )
    skipped = [(r.repository, r.kind, r.skipped) for r in result.items if r.skipped]
    assert skipped == [
        ("app", "tag", "tag v1 is delete-disabled"),
        ("app", "manifest", f"manifest {image(40).digest} is write-disabled"),
        ("web", "tag", "repository web is delete-disabled"),
    ]
    deleted = [(r.repository, r.kind, r.digest) for r in result.items if not r.skipped]
    assert deleted == [("app", "tag", image(1).digest), ("app", "manifest", image(1).digest)]
    assert "v1" in await reg.tags() and image(40).digest in await reg.digests()
    assert await reg.tags("web") == {"v1": image(10).digest}


async def test_bad_requests_are_refused(db: Database) -> None:
    await registry(db)
    service = lifecycle_service(db)
    for request in (
        _request(ago="1d"),
        _request("app:.*", ago="yesterday"),
        _request("app:.*", ago="1d", keep=-1),
        _request("app", ago="1d"),
    ):
        with pytest.raises(Invalid):
            await service.purge("default", request)


@pytest.mark.timeout(60)
async def test_a_catastrophic_filter_does_not_stall_the_purge(db: Database) -> None:
    reg = await registry(db)
    name = "a" * 40
    await reg.link(name)
    await reg.push(image(1), name, repository=name)
    service = lifecycle_service(db)
    with anyio.fail_after(2):
        by_repository = await service.purge("default", _request(f"{CATASTROPHIC}:.*", ago="0"))
        by_tag = await service.purge("default", _request(f"{name}:{CATASTROPHIC}", ago="0"))
    assert by_repository.items == () and by_tag.items == ()
    assert await reg.tags(name) == {name: image(1).digest}
