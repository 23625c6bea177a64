"""Credential sets over in-memory stores: a set pointed at another upstream host must not
carry the password given for the old one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from portside.metadata.credential_sets import CredentialSetRecord
from portside.services.imports.credential_sets import CredentialSetService, CredentialSetSpec
from portside.services.imports.sealing import SecretBox
from portside.services.management.errors import Invalid


class _Registry:
    id = 7


class _Registries:
    async def get(self, name: str) -> _Registry | None:
        return _Registry() if name == "team1" else None


class _Sets:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], CredentialSetRecord] = {}

    async def create(
        self, registry_id: int, name: str, server: str, user: str, sealed: bytes, kid: str
    ) -> CredentialSetRecord:
        now = datetime.now(UTC)
        row = CredentialSetRecord(1, registry_id, name, server, user, sealed, kid, now, now)
        self.rows[(registry_id, name)] = row
        return row

    async def get(self, registry_id: int, name: str) -> CredentialSetRecord | None:
        return self.rows.get((registry_id, name))

    async def update(
        self, registry_id: int, name: str, changes: dict[str, Any]
    ) -> CredentialSetRecord:
        row = self.rows[(registry_id, name)] = replace(self.rows[(registry_id, name)], **changes)
        return row


def _service() -> CredentialSetService:
    box = SecretBox(None, b"k" * 32)  # type: ignore[arg-type]
    return CredentialSetService(_Registries(), _Sets(), box)  # type: ignore[arg-type]


def test_a_new_login_server_needs_a_new_password() -> None:
    async def scenario() -> None:
        service = _service()
        spec = CredentialSetSpec("upstream.example", "puller", "s3cret")
        await service.create("team1", "upstream-1", spec)
        with pytest.raises(Invalid, match="needs the password"):
            await service.update("team1", "upstream-1", CredentialSetSpec("evil.example"))
        opened = await service.credentials("team1", "upstream-1")
        assert opened.login_server == "upstream.example"
        # The same server (as typed differently) and a new server with its password are fine.
        await service.update("team1", "upstream-1", CredentialSetSpec(" Upstream.example"))
        moved = CredentialSetSpec("mirror.example", password="other")
        await service.update("team1", "upstream-1", moved)
        opened = await service.credentials("team1", "upstream-1")
        assert (opened.login_server, opened.credentials.password) == ("mirror.example", "other")

    anyio.run(scenario)
