"""The signing keys of a deployment: created at first start, shared by every node, rotatable
and retirable.

Keys live in the database (`SigningKeyStore`). Each process keeps a `TokenService` over them
and reloads it now and then, and when it meets a token signed by a key it does not know yet
(another node rotated), so rotation needs no restart anywhere. Those reloads are bounded: at
most one per `miss_reload_seconds`, shared by every request that missed meanwhile, so a flood of
tokens naming unknown keys costs one query per interval. A key rotated elsewhere is accepted
here at once, or at most `miss_reload_seconds` later while such a flood goes on.

Retiring a key (`retire`) removes it from the database and moves every registry's auth
version in the same transaction. A node that still holds the key in memory refuses its tokens
all the same: a token issued at an older auth version, and every refresh token, has its key
checked against the database (`confirm`). Only a token forged after the retirement with the
leaked key and the current auth version could pass, on a node that has not reloaded its keys
yet: at most `reload_seconds` (60 s by default) after the retirement.

Tokens are issued through `signer`, which checks (one small query) that this process's signing
key is still the deployment's, so that no node signs with a rotated-out or retired key.

Every refresh token is minted by `KeyRing.refresh_token`, whether the token endpoint or the
management API (`portside login`) asks for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import cast

import anyio

from portside.auth.algorithms import Algorithm
from portside.auth.claims import refresh_claims
from portside.auth.errors import Denied, Unauthorized
from portside.auth.identity import Identity
from portside.auth.tokens import InvalidToken, SigningKey, TokenService
from portside.metadata.records import RegistryRecord, SigningKeyRecord
from portside.metadata.signing_keys import SIGNING, UNKNOWN, SigningKeyStore

__all__ = ["KeyRing"]


def _key(record: SigningKeyRecord) -> SigningKey:
    return SigningKey(
        kid=record.kid,
        algorithm=cast(Algorithm, record.algorithm),
        private_pem=record.private_pem,
        created_at=record.created_at,
    )


def _record(key: SigningKey) -> SigningKeyRecord:
    return SigningKeyRecord(key.kid, key.algorithm, key.private_pem, key.created_at, None)


class KeyRing:
    """This process's view of the deployment's signing keys."""

    def __init__(
        self,
        store: SigningKeyStore,
        *,
        issuer: str,
        algorithm: Algorithm = "ES256",
        reload_seconds: float = 60.0,
        miss_reload_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Sign as `issuer`; reload the keys every `reload_seconds`, and on meeting an unknown
        key at most once per `miss_reload_seconds`."""
        self._store = store
        self._issuer = issuer
        self._algorithm: Algorithm = algorithm
        self._reload_seconds = reload_seconds
        self._miss_reload_seconds = miss_reload_seconds
        self._monotonic = monotonic
        self._service: TokenService | None = None
        self._signing_kid = ""
        self._loaded_at = 0.0
        self._missed_at = -math.inf
        self._reloading: anyio.Lock | None = None

    async def service(self) -> TokenService:
        """The token service over the current keys (creating the first key if none exists)."""
        service = self._service
        if service is None or self._monotonic() - self._loaded_at > self._reload_seconds:
            async with self._lock():
                if self._service is service:  # nobody reloaded while this request waited
                    await self._load()
                service = self._service
        assert service is not None
        return service

    async def reload(self) -> None:
        """Read the keys again; create the deployment's first key if there is none."""
        async with self._lock():
            await self._load()

    def _lock(self) -> anyio.Lock:
        # Created on first use, inside the event loop that serves this process.
        if self._reloading is None:
            self._reloading = anyio.Lock()
        return self._reloading

    async def _reload_on_miss(self, seen: TokenService) -> TokenService:
        """Reload after meeting an unknown key, unless another request reloaded since `seen`
        was read, or a miss already reloaded less than `miss_reload_seconds` ago."""
        async with self._lock():
            now = self._monotonic()
            if self._service is seen and now - self._missed_at >= self._miss_reload_seconds:
                self._missed_at = now
                await self._load()
            assert self._service is not None
            return self._service

    async def _load(self) -> None:
        records = await self._store.list()
        if not records:
            await self._store.add(
                _record(SigningKey.generate(self._algorithm, now=datetime.now(UTC))),
                only_if_none=True,
            )
            records = await self._store.list()
        self._service = TokenService(issuer=self._issuer, keys=[_key(r) for r in records])
        self._signing_kid = records[0].kid
        self._loaded_at = self._monotonic()

    async def signer(self) -> TokenService:
        """The token service to issue with: reloaded first if another node rotated (or retired)
        since this one loaded, so that no node signs with a key that is not the signing key."""
        service = await self.service()
        if await self._store.signing_kid() not in (None, self._signing_kid):
            async with self._lock():
                if self._service is service:
                    await self._load()
            assert self._service is not None
            return self._service
        return service

    async def verify(self, token: str, *, kind: str) -> dict[str, object]:
        """Verify a token; on an unknown key, reload (another node may have rotated), at most
        once per `miss_reload_seconds`."""
        service = await self.service()
        try:
            return service.verify(token, kind=kind)
        except InvalidToken as error:
            if error.message != "unknown signing key":
                raise
        service = await self._reload_on_miss(service)
        return service.verify(token, kind=kind)

    async def refresh_token(
        self,
        registry: RegistryRecord,
        identity: Identity,
        *,
        audience: str,
        lifetime: timedelta,
        secret: str | None = None,
        session_end: datetime | None = None,
    ) -> str:
        """A refresh token naming `identity` in `registry`, for the login server `audience`,
        bound to the stored secret with fingerprint `secret` if any (anonymous callers get none).

        A federated identity's token never outlives its session, which ends at `session_end`
        (required for it): the token carries that end, and tokens renewed from it keep it.
        """
        if identity.kind == "anonymous":
            raise Unauthorized("anonymous callers get no refresh token")
        if session_end is None and identity.kind == "federated":
            raise ValueError("a federated identity's refresh token needs its session's end")
        if session_end is not None:
            lifetime = min(lifetime, session_end - datetime.now(UTC))
            if lifetime.total_seconds() < 1:
                raise Unauthorized("the session has ended: sign in at the identity provider again")
        service = await self.signer()
        # `rid`: the registry's uid, which (unlike its id) a registry created again never gets.
        claims = {
            **refresh_claims(registry.id, identity, secret, session_end),
            "rid": registry.uid,
        }
        try:
            return service.issue(
                subject=identity.subject, audience=audience, lifetime=lifetime, claims=claims
            )
        except ValueError:
            # A federated subject or group holding characters ACR's SDK cannot decode.
            raise Denied("this identity's names cannot be carried in a token") from None

    async def confirm(self, token: str) -> None:
        """Unauthorized unless the key that signed `token` (already verified) is still stored.

        This process may hold a retired key for up to `reload_seconds`; the access policy asks
        this whenever a registry's auth version moved since a token was issued (retiring a key
        moves all of them) and on every use of a refresh token.
        """
        import jwt  # here, as in auth/tokens.py: only a worker that sees tokens loads it

        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or not await self._store.has(kid):
            raise InvalidToken("token was signed by a retired key")

    async def retire(self, kid: str) -> None:
        """Remove the key `kid` (not the signing key: rotate first), so that tokens it signed
        stop verifying on every node at once (see `confirm`). LookupError if there is no such
        key, ValueError if it is the signing key."""
        outcome = await self._store.retire(kid)
        if outcome == UNKNOWN:
            raise LookupError(kid)
        if outcome == SIGNING:
            raise ValueError("the signing key cannot be retired; rotate first")
        await self.reload()

    async def rotate(self, algorithm: Algorithm | None = None) -> str:
        """Sign with a new key from now on; older keys keep verifying. Returns the new kid."""
        key = SigningKey.generate(algorithm or self._algorithm, now=datetime.now(UTC))
        await self._store.add(_record(key))
        await self.reload()
        return key.kid
