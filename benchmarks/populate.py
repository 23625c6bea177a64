"""Untimed set-up traffic: blobs, images, tags and repositories, pushed over the API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

__all__ = ["Image", "make_blob_file", "populate_repositories", "push_image", "push_tags"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> str:
    """sha256 digest string of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_blob_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path` (once) and return their digest."""
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 8 << 20))
            handle.write(chunk)
            hasher.update(chunk)
            remaining -= len(chunk)
    return "sha256:" + hasher.hexdigest()


@dataclass(frozen=True)
class Image:
    """What was pushed for one image: manifest body and digest, blob digests."""

    manifest: bytes
    digest: str
    config: str
    layers: tuple[str, ...]


async def _push_blob(client: httpx.AsyncClient, repo: str, data: bytes) -> str:
    digest = digest_of(data)
    if (await client.head(f"/v2/{repo}/blobs/{digest}")).status_code == 200:
        return digest
    started = await client.post(f"/v2/{repo}/blobs/uploads/")
    started.raise_for_status()
    location = urljoin(str(client.base_url), started.headers["location"])
    sep = "&" if "?" in location else "?"
    done = await client.put(f"{location}{sep}digest={digest}", content=data)
    done.raise_for_status()
    return digest


def _manifest(config: bytes, layers: list[bytes]) -> bytes:
    def desc(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", config),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", x) for x in layers],
        }
    ).encode()


async def _put_manifest(client: httpx.AsyncClient, repo: str, ref: str, body: bytes) -> None:
    response = await client.put(
        f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    response.raise_for_status()


async def _push_image(base_url: str, repo: str, tag: str, layer_sizes: list[int]) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo}).encode()
    layers = [os.urandom(size) for size in layer_sizes]
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for blob in [config, *layers]:
            await _push_blob(client, repo, blob)
        body = _manifest(config, layers)
        await _put_manifest(client, repo, tag, body)
    return Image(body, digest_of(body), digest_of(config), tuple(digest_of(x) for x in layers))


def push_image(base_url: str, repo: str, tag: str, layer_sizes: list[int]) -> Image:
    """Push an image with random layers of the given sizes."""
    return asyncio.run(_push_image(base_url, repo, tag, layer_sizes))


async def _many(base_url: str, jobs: list[tuple[str, str]], body: bytes, parallel: int) -> None:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    limits = httpx.Limits(max_connections=parallel)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                repo, tag = queue.get_nowait()
                await _put_manifest(client, repo, tag, body)

        await asyncio.gather(*(worker() for _ in range(parallel)))


async def _seed_and_mount(base_url: str, repos: list[str], parallel: int) -> bytes:
    """Push one config blob to the first repository and mount it into the others."""
    config = b'{"architecture":"amd64","os":"linux"}'
    digest = digest_of(config)
    limits = httpx.Limits(max_connections=parallel)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        await _push_blob(client, repos[0], config)
        semaphore = asyncio.Semaphore(parallel)

        async def mount(repo: str) -> None:
            async with semaphore:
                url = f"/v2/{repo}/blobs/uploads/?mount={digest}&from={repos[0]}"
                response = await client.post(url)
                if response.status_code != 201:
                    raise RuntimeError(f"mount into {repo} answered {response.status_code}")

        await asyncio.gather(*(mount(r) for r in repos[1:]))
    return _manifest(config, [])


def push_tags(base_url: str, repo: str, count: int, parallel: int = 16) -> None:
    """`count` tags in one repository, all naming one small image."""
    body = asyncio.run(_seed_and_mount(base_url, [repo], parallel))
    jobs = [(repo, f"t{i:05d}") for i in range(count)]
    asyncio.run(_many(base_url, jobs, body, parallel))


def populate_repositories(base_url: str, count: int, parallel: int = 16) -> list[str]:
    """`count` repositories (`catalog/r00000`...), each with one tagged image."""
    repos = [f"catalog/r{i:05d}" for i in range(count)]
    body = asyncio.run(_seed_and_mount(base_url, repos, parallel))
    asyncio.run(_many(base_url, [(r, "latest") for r in repos], body, parallel))
    return repos
