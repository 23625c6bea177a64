"""Storage counters, counts and quota checks of the stores, on every metadata backend.

The counters (`registries.storage_bytes`, `repositories.storage_bytes`, `registry_blobs.links`)
are compared after every step of random link / unlink / mount / repository-delete sequences
with a recomputation from the link tables (`UsageStore.recount`) and with a model kept here.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.errors import QuotaViolation
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.metadata.usage_reads import RegistryUsage, RepositoryUsage, StorageTally, UsageStore

pytestmark = pytest.mark.anyio

# Digests shared by both registries (same digest, same size everywhere).
SIZES = {f"sha256:{str(n) * 64}": size for n, size in enumerate([7, 100, 1000, 3, 4096], 1)}
REPOSITORIES = {"alpha": ("team/one", "team/two"), "beta": ("team/one",)}


@dataclass
class Model:
    """What the links should be: registry -> repository -> digests."""

    links: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def tally(self, registry: str) -> StorageTally:
        """The counters the model predicts for one registry."""
        repos = self.links.get(registry, {})
        distinct = set().union(*repos.values()) if repos else set()
        links: dict[str, int] = {}
        for digests in repos.values():
            for digest in digests:
                links[digest] = links.get(digest, 0) + 1
        return StorageTally(
            sum(SIZES[d] for d in distinct),
            {name: sum(SIZES[d] for d in digests) for name, digests in repos.items()},
            links,
        )


async def _registries(db: Database) -> dict[str, int]:
    store = RegistryStore(db)
    ids = {}
    for name in REPOSITORIES:
        created = await store.create(name)
        assert created is not None
        ids[name] = created.id
    return ids


async def _step(db: Database, ids: dict[str, int], model: Model, rng: random.Random) -> str:
    """One random operation, applied to the database and the model; its description."""
    registry = rng.choice(list(REPOSITORIES))
    repos = REPOSITORIES[registry]
    repo, digest = rng.choice(repos), rng.choice(list(SIZES))
    held = model.links.setdefault(registry, {})
    blobs = BlobStore(db)
    operation = rng.choice(["link", "link", "unlink", "mount", "delete"])
    if operation == "link":
        await blobs.add(ids[registry], repo, digest, SIZES[digest])
        held.setdefault(repo, set()).add(digest)
    elif operation == "unlink":
        removed = await blobs.unlink(ids[registry], repo, digest)
        assert removed == (digest in held.get(repo, set()))
        held.get(repo, set()).discard(digest)
    elif operation == "mount":
        source = rng.choice(repos)
        size = await blobs.mount(ids[registry], source, repo, digest)
        if digest in held.get(source, set()):
            assert size == SIZES[digest]
            held.setdefault(repo, set()).add(digest)
        else:
            assert size is None
    else:
        deleted = await ArtifactStore(db).delete_repository(ids[registry], repo)
        assert (deleted is not None) == (repo in held)
        held.pop(repo, None)
    return f"{operation} {registry}/{repo} {digest[:9]}"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_counters_match_a_recount_after_random_link_sequences(
    db: Database, seed: int
) -> None:
    ids = await _registries(db)
    usage, model, rng = UsageStore(db), Model(), random.Random(seed)
    for number in range(60):
        step = await _step(db, ids, model, rng)
        for registry, registry_id in ids.items():
            counters = await usage.counters(registry_id)
            assert counters == await usage.recount(registry_id), (number, step)
            assert counters == model.tally(registry), (number, step)
    # The sequences did share digests across registries and repositories.
    assert any(len(set(m) & set(n)) for m in model.links.values() for n in model.links.values())


async def test_concurrent_links_of_one_shared_blob_count_it_once(db: Database) -> None:
    ids = await _registries(db)
    blobs, digest = BlobStore(db), next(iter(SIZES))
    await asyncio.gather(
        *(
            blobs.add(ids[registry], repo, digest, SIZES[digest])
            for registry, repos in REPOSITORIES.items()
            for repo in repos
            for _ in range(3)
        )
    )
    usage = UsageStore(db)
    for registry, registry_id in ids.items():
        counters = await usage.counters(registry_id)
        assert counters == await usage.recount(registry_id)
        assert counters.registry_bytes == SIZES[digest]
        assert counters.links == {digest: len(REPOSITORIES[registry])}


async def test_a_shared_layer_counts_once_per_registry_and_once_per_repository(
    db: Database,
) -> None:
    ids = await _registries(db)
    shared, own = list(SIZES)[:2]
    blobs = BlobStore(db)
    for repo in REPOSITORIES["alpha"]:
        await blobs.add(ids["alpha"], repo, shared, SIZES[shared])
    assert await blobs.mount(ids["alpha"], "team/one", "team/two", shared) == SIZES[shared]
    await blobs.add(ids["alpha"], "team/two", own, SIZES[own])
    await blobs.add(ids["beta"], "team/one", shared, SIZES[shared])

    usage = UsageStore(db)
    alpha = await usage.registry_usage(ids["alpha"])
    assert alpha == RegistryUsage(
        storage_bytes=SIZES[shared] + SIZES[own], repositories=2, tokens=0, scope_maps=0
    )
    assert await usage.repository_usage(ids["alpha"], "team/one") == RepositoryUsage(
        "team/one", SIZES[shared]
    )
    assert await usage.repository_usage(ids["alpha"], "team/two") == RepositoryUsage(
        "team/two", SIZES[shared] + SIZES[own]
    )
    beta = await usage.registry_usage(ids["beta"])
    assert beta is not None and beta.storage_bytes == SIZES[shared]
    assert await usage.repository_usage(ids["alpha"], "team/none") is None
    assert await usage.registry_usage(max(ids.values()) + 1) is None
    record = await RegistryStore(db).get("alpha")
    assert record is not None and record.storage_bytes == SIZES[shared] + SIZES[own]

    # Unlinking from one repository frees nothing while another still links it.
    assert await blobs.unlink(ids["alpha"], "team/one", shared)
    alpha = await usage.registry_usage(ids["alpha"])
    assert alpha is not None and alpha.storage_bytes == SIZES[shared] + SIZES[own]
    assert await blobs.unlink(ids["alpha"], "team/two", shared)
    alpha = await usage.registry_usage(ids["alpha"])
    assert alpha is not None and alpha.storage_bytes == SIZES[own]


async def test_counts_leave_out_system_scope_maps(db: Database) -> None:
    ids = await _registries(db)
    maps, tokens = ScopeMapStore(db), TokenStore(db)
    for name in ("_repositories_pull", "_repositories_push"):
        await maps.create(ids["alpha"], name, ["repositories/*/content/read"], system=True)
    await maps.create(ids["alpha"], "readers", ["repositories/*/content/read"])
    await maps.create(ids["beta"], "others", ["repositories/*/content/read"])
    await tokens.create(ids["alpha"], "token-one", "readers")
    await tokens.create(ids["alpha"], "token-two", "_repositories_pull")
    usage = UsageStore(db)
    assert await usage.count(ids["alpha"], "scope_maps") == 1
    assert await usage.count(ids["alpha"], "tokens") == 2
    assert await usage.count(ids["beta"], "tokens") == 0
    found = await usage.registry_usage(ids["alpha"])
    assert found is not None and (found.tokens, found.scope_maps) == (2, 1)
    with pytest.raises(ValueError):
        await usage.count(ids["alpha"], "storage_bytes")


async def test_a_new_repository_past_the_repositories_quota_is_refused(db: Database) -> None:
    ids = await _registries(db)
    registry = await RegistryStore(db).update("alpha", {"quota_repositories": 2})
    assert registry is not None and registry.quotas.repositories == 2
    blobs, digest = BlobStore(db), next(iter(SIZES))
    await blobs.add(ids["alpha"], "one", digest, SIZES[digest])
    await blobs.add(ids["alpha"], "two", digest, SIZES[digest])
    with pytest.raises(QuotaViolation) as refused:
        await blobs.add(ids["alpha"], "three", digest, SIZES[digest])
    assert refused.value.quota == "repositories" and refused.value.limit == 2
    assert "repositories quota of 2" in refused.value.message
    with pytest.raises(QuotaViolation):
        await blobs.mount(ids["alpha"], "one", "three", digest)
    assert not await RepositoryStore(db).exists(ids["alpha"], "three")
    # Existing repositories still take links; other registries are not limited.
    await blobs.add(ids["alpha"], "two", list(SIZES)[1], SIZES[list(SIZES)[1]])
    for name in ("one", "two", "three"):
        await blobs.add(ids["beta"], name, digest, SIZES[digest])
    # A deleted repository frees its place.
    assert await ArtifactStore(db).delete_repository(ids["alpha"], "one") is not None
    await blobs.add(ids["alpha"], "three", digest, SIZES[digest])
    assert await RepositoryStore(db).exists(ids["alpha"], "three")


async def test_concurrent_new_repositories_never_pass_the_quota(db: Database) -> None:
    ids = await _registries(db)
    await RegistryStore(db).update("alpha", {"quota_repositories": 3})
    blobs, digest = BlobStore(db), next(iter(SIZES))
    results = await asyncio.gather(
        *(blobs.add(ids["alpha"], f"repo{n}", digest, SIZES[digest]) for n in range(8)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, QuotaViolation)]
    assert len(refused) == 5 and all(r is None or isinstance(r, QuotaViolation) for r in results)
    assert await UsageStore(db).count(ids["alpha"], "repositories") == 3


async def test_a_blob_past_the_storage_quota_is_refused_and_nothing_changes(
    db: Database,
) -> None:
    ids = await _registries(db)
    small, large = SIZES[f"sha256:{'2' * 64}"], SIZES[f"sha256:{'3' * 64}"]
    await RegistryStore(db).update("alpha", {"quota_storage_bytes": small + 50})
    blobs, usage = BlobStore(db), UsageStore(db)
    await blobs.add(ids["alpha"], "team/one", f"sha256:{'2' * 64}", small)
    before = await usage.counters(ids["alpha"])
    with pytest.raises(QuotaViolation) as refused:
        await blobs.add(ids["alpha"], "team/one", f"sha256:{'3' * 64}", large)
    assert refused.value.quota == "storage_bytes"
    assert "storage quota" in refused.value.message
    assert await usage.counters(ids["alpha"]) == before
    assert await blobs.linked_size(ids["alpha"], "team/one", f"sha256:{'3' * 64}") is None
    # A blob the registry holds already adds nothing: it fits even at the limit.
    await blobs.add(ids["alpha"], "team/two", f"sha256:{'2' * 64}", small)
    assert (await usage.counters(ids["alpha"])).registry_bytes == small
    # Back to the SKU's default (Standard: 100 GiB), it fits.
    await RegistryStore(db).update("alpha", {"quota_storage_bytes": None})
    await blobs.add(ids["alpha"], "team/one", f"sha256:{'3' * 64}", large)
    assert (await usage.counters(ids["alpha"])).registry_bytes == small + large
