"""`TrustedIssuers`: the OIDC issuers this deployment trusts now, from both of their homes.

Issuers come from the configuration file (read-only, changed by a restart) and from the
database (managed through the management API, services/management/issuers.py). Every node
keeps one `FederatedVerifier` over both; before each use it reads the stored issuers' version
(one small query) and, if it moved, reads the issuers again. A change made on any node thus
applies to the next exchange or check on every node: no restart, no polling interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from portside.auth.federation import FederatedVerifier, TrustedIssuer
from portside.metadata.trusted_issuers import TrustedIssuerRecord, TrustedIssuerStore

__all__ = ["TrustedIssuers", "trusted_issuer_of"]


def trusted_issuer_of(record: TrustedIssuerRecord) -> TrustedIssuer:
    """The verifier's view of a stored issuer."""
    return TrustedIssuer(
        issuer=record.issuer,
        audience=record.audience,
        jwks_url=record.jwks_url,
        jwks=record.jwks,
        groups_claim=record.groups_claim,
        tenant=record.tenant,
    )


class TrustedIssuers:
    """The configured and the stored trusted issuers, and a verifier kept current over both."""

    def __init__(
        self,
        store: TrustedIssuerStore,
        configured: Sequence[TrustedIssuer] = (),
        *,
        verifier: FederatedVerifier | None = None,
    ) -> None:
        """Combine `configured` issuers with those in `store`; `verifier` (built here if not
        given) is the one whose trusted issuers are kept current."""
        self.store = store
        self.configured = tuple(configured)
        self._verifier = verifier if verifier is not None else FederatedVerifier(configured)
        self._version: int | None = None
        self._lock = anyio.Lock()

    async def verifier(self) -> FederatedVerifier:
        """The verifier, trusting the issuers trusted now."""
        await self._refresh()
        return self._verifier

    async def issuers(self) -> tuple[str, ...]:
        """The `iss` of every issuer trusted now (configured ones first)."""
        await self._refresh()
        return tuple(trusted.issuer for trusted in self._verifier.issuers)

    async def trusts(self, issuer: str | None) -> bool:
        """True if `issuer` is trusted now."""
        return issuer is not None and issuer in await self.issuers()

    async def aclose(self) -> None:
        """Close the verifier's HTTP client."""
        await self._verifier.aclose()

    async def _refresh(self) -> None:
        """Read the stored issuers again if their version moved since they were last read."""
        version = await self.store.version()
        if version == self._version:
            return
        async with self._lock:
            if version == self._version:
                return
            stored = await self.store.list()
            configured = {trusted.issuer for trusted in self.configured}
            # The management API refuses an `iss` the file trusts; should the file gain one
            # that is stored too, the file's definition wins.
            extra = [trusted_issuer_of(r) for r in stored if r.issuer not in configured]
            self._verifier.replace([*self.configured, *extra])
            # The version read before the list: a change in between only costs another read.
            self._version = version
