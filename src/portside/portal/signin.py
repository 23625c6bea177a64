"""Who is signed in to the portal: sign-in with a user name and secret, the server-side
session it opens, and the check every request makes that the session still stands.

Three kinds of identity sign in, with the secret they use elsewhere:

- `admin` and the deployment administrator's password (as the management API);
- a service principal's id and one of its secrets (as the management API);
- a registry's name and a password of its admin user (as `docker login` to that registry).

A session row holds the identity, the fingerprint of the secret it proved, its CSRF token and
its end. Every request checks that the secret is still a current one of the identity (the
check access tokens get at an auth-version change): renewing, removing or resetting it, or
disabling the admin user, ends the session on every node at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from portside.auth.claims import secret_fingerprint
from portside.auth.errors import Unauthorized
from portside.auth.identity import Identity
from portside.metadata.clock import utcnow
from portside.metadata.portal_sessions import PortalSessionRecord
from portside.runtime import Runtime
from portside.services.access.logins import current_secrets
from portside.services.management.admin import ADMIN_USER, Caller
from portside.services.management.context import lookable
from portside.services.management.identities import canonical_principal_id

__all__ = ["PortalSignIn", "Viewer"]


@dataclass(frozen=True, slots=True)
class Viewer:
    """The identity behind a request: `caller` is what it may do on the management side
    (None for a registry's admin user, which manages nothing)."""

    kind: str
    subject: str
    registry_id: int | None
    csrf: str
    caller: Caller | None
    # A directory (OIDC) sign-in's issuer and groups: its role assignments name them.
    issuer: str = ""
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        """True for the deployment administrator."""
        return self.kind == "deployment"

    @property
    def identity(self) -> Identity:
        """The registry identity it acts as in the data plane's access decisions."""
        return Identity(self.kind, self.subject, self.groups, issuer=self.issuer)

    @property
    def label(self) -> str:
        """How the page header names it."""
        names = {
            "deployment": "administrator",
            "sp": "service principal",
            "admin": "admin user",
            "federated": "directory",
        }
        return f"{self.subject} ({names.get(self.kind, self.kind)})"


def session_key(cookie: str) -> str:
    """The stored id of the session a cookie value names (its SHA-256)."""
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


class PortalSignIn:
    """Signs identities in and out, and finds the viewer of a session cookie."""

    def __init__(self, runtime: Runtime) -> None:
        """Over the runtime's management service, access policy and session store."""
        self._runtime = runtime
        self._lifetime = timedelta(seconds=runtime.settings.portal_session_seconds)

    async def sign_in(self, username: str, password: str, *, client: str) -> str:
        """Check the credentials and open a session; the cookie value (random, 256 bits).

        Raises Unauthorized or Throttled, as the APIs do for the same credentials."""
        kind, subject, registry_id, secret = await self._verify(username, password, client)
        cookie = secrets.token_urlsafe(32)
        now = utcnow()
        sessions = self._runtime.portal_sessions
        await sessions.delete_expired()
        await sessions.create(
            PortalSessionRecord(
                id=session_key(cookie),
                kind=kind,
                subject=subject,
                registry_id=registry_id,
                secret=secret,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + self._lifetime,
            )
        )
        return cookie

    async def viewer(self, cookie: str | None) -> Viewer | None:
        """The viewer of a session cookie; None if the session is unknown, has ended, or the
        secret it was opened with is no longer a current one."""
        if not cookie or len(cookie) > 128:
            return None
        record = await self._runtime.portal_sessions.get(session_key(cookie))
        if record is None or not await self._still_current(record):
            return None
        if record.kind == "federated":
            return await self._directory_viewer(record)
        caller: Caller | None = None
        if record.kind == "deployment":
            caller = Caller("admin", ADMIN_USER, record.secret)
        elif record.kind == "sp":
            caller = Caller("sp", record.subject, record.secret)
        return Viewer(record.kind, record.subject, record.registry_id, record.csrf, caller)

    async def sign_out(self, cookie: str | None) -> None:
        """End the session of a cookie (on every node: the row is gone)."""
        if cookie and len(cookie) <= 128:
            await self._runtime.portal_sessions.delete(session_key(cookie))

    async def _verify(
        self, username: str, password: str, client: str
    ) -> tuple[str, str, int | None, str]:
        runtime = self._runtime
        if username == ADMIN_USER or canonical_principal_id(username):
            caller = await runtime.management.auth.authenticate(username, password, client=client)
            assert caller.secret is not None
            kind = "deployment" if caller.is_admin else "sp"
            return kind, caller.id, None, caller.secret
        registry = await runtime.stores.registries.get(username) if lookable(username) else None
        if registry is None:
            raise Unauthorized("invalid user name or password")
        login = await runtime.policy.login(registry, username, password, client=client)
        if login.identity.kind != "admin" or login.secret is None:
            # The registry's own name is its admin user's; anything else is not a portal user.
            raise Unauthorized("invalid user name or password")
        return "admin", registry.name, registry.id, login.secret

    async def _directory_viewer(self, record: PortalSessionRecord) -> Viewer | None:
        """The viewer of a directory session, while its issuer is trusted and offered for
        sign-in and the identity still holds a role somewhere (checked on every request, as
        secrets are for the other sessions)."""
        runtime = self._runtime
        found = await runtime.portal_directory.session(record.id)
        if found is None:
            return None
        # Stored issuers are the ones offered for sign-in: gone from the table, not trusted.
        offered = await runtime.stores.trusted_issuers.list()
        if not any(r.issuer == found.issuer and r.portal_client_id for r in offered):
            return None
        if not await runtime.portal_directory.has_roles(found.issuer, record.subject, found.groups):
            return None
        return Viewer(
            "federated", record.subject, None, record.csrf, None, found.issuer, found.groups
        )

    async def _still_current(self, record: PortalSessionRecord) -> bool:
        runtime = self._runtime
        if record.kind == "deployment":
            return await runtime.admin.fingerprint() == record.secret
        if record.kind == "sp":
            stored = await current_secrets(runtime.stores.credentials, "sp", record.subject)
            return any(secret_fingerprint(c.hash) == record.secret for c in stored)
        if record.kind == "admin" and record.registry_id is not None:
            registry = await runtime.stores.registries.get(record.subject)
            if registry is None or registry.id != record.registry_id:
                return False
            if not registry.admin_enabled:
                return False
            try:
                identity = Identity("admin", registry.name)
                await runtime.policy.secret_expiry(registry, identity, record.secret)
            except Unauthorized:
                return False
            return True
        # Directory sessions prove no stored secret: `_directory_viewer` checks them.
        return record.kind == "federated"
