"""What a portal viewer may see and do in a registry: the APIs' own decisions, asked the same way.

Managing a registry (its settings, usage, tokens, scope maps, admin passwords) is what the
management API allows: the administrator, or a Contributor or Owner of the whole registry
(`ManagementAuth.require_registry`). Its content (repositories, tags, manifests, locks,
deletion) is what the /acr/v1 metadata API allows the same identity: the grant the access
policy computes (`AccessPolicy.grant_for`), checked per repository and action. A registry
the viewer may neither manage nor read is answered as missing, as the management API does.
"""

from __future__ import annotations

from dataclasses import dataclass

from portside.auth.errors import Denied
from portside.auth.permissions import AccessGrant
from portside.portal.signin import Viewer
from portside.runtime import Runtime
from portside.services.management.errors import NotFound
from portside.services.management.registries import RegistryView

__all__ = ["RegistryAccess", "RegistryPage"]


@dataclass(frozen=True, slots=True)
class RegistryPage:
    """A registry as one viewer sees it: may it manage it, and what may it do inside."""

    view: RegistryView
    manage: bool
    grant: AccessGrant

    @property
    def name(self) -> str:
        """The registry's name."""
        return self.view.record.name

    def allows(self, repository: str, action: str) -> bool:
        """True if the viewer may do `action` (pull, push, delete, metadata_read,
        metadata_write) on `repository`."""
        return self.grant.allows("repository", repository, action)

    def sees(self, repository: str) -> bool:
        """True if the viewer may see `repository` at all (as the catalog filters)."""
        return bool(self.grant.actions_on(repository))

    def require(self, repository: str, action: str) -> None:
        """Denied unless `allows(repository, action)`."""
        if not self.allows(repository, action):
            raise Denied(f"this needs {action} on repository {repository[:256]!r}")

    def require_manage(self) -> None:
        """Denied unless the viewer may manage the registry."""
        if not self.manage:
            raise Denied("this needs the Contributor or Owner role on the whole registry")


class RegistryAccess:
    """Answers what a viewer may see, over the runtime's management service and policy."""

    def __init__(self, runtime: Runtime) -> None:
        """Over `runtime`'s management service and access policy."""
        self._runtime = runtime

    async def page(self, viewer: Viewer, name: str, host: str | None) -> RegistryPage:
        """The registry `name` as `viewer` sees it; NotFound if it may not see it at all."""
        management = self._runtime.management
        view = await management.registries.show(name, host)
        found = await self._page(viewer, view)
        if found is None:
            raise NotFound(f"registry {name[:64]!r} does not exist")
        return found

    async def pages(self, viewer: Viewer, host: str | None) -> list[RegistryPage]:
        """Every registry the viewer may see, by name."""
        views = await self._runtime.management.registries.list(host)
        if viewer.kind == "admin":
            views = [v for v in views if v.record.id == viewer.registry_id]
        found = [await self._page(viewer, view) for view in views]
        return [page for page in found if page is not None]

    def require_admin(self, viewer: Viewer) -> None:
        """Denied unless the viewer is the deployment administrator (creating, deleting
        registries)."""
        if not viewer.is_admin:
            raise Denied("only the deployment administrator may do this")

    async def owns(self, viewer: Viewer, page: RegistryPage) -> bool:
        """True if the viewer may manage the registry's role assignments (the administrator,
        or an Owner of the whole registry: the management API's `OwnerCaller`)."""
        if viewer.caller is None:
            return False
        roles = await self._runtime.management.auth.roles_in(viewer.caller, page.view.record)
        return "Owner" in roles

    async def require_owner(self, viewer: Viewer, page: RegistryPage) -> None:
        """Denied unless the viewer may manage the registry's role assignments."""
        if viewer.caller is None:
            raise Denied("this needs the Owner role on the whole registry")
        auth = self._runtime.management.auth
        await auth.require_registry(viewer.caller, page.view.record, owner=True)

    async def require_import_source(self, viewer: Viewer, registry: str) -> None:
        """Denied unless the viewer may import from `registry` of this deployment: it must
        manage that registry too, as the management API's import route demands (a missing
        one is Denied as well, so nothing tells which registries exist)."""
        if viewer.is_admin:
            return
        management = self._runtime.management
        try:
            view = await management.registries.show(registry)
        except NotFound:
            raise Denied(
                "this needs the Contributor or Owner role on the source registry"
            ) from None
        if viewer.caller is None:
            raise Denied("this needs the Contributor or Owner role on the source registry")
        await management.auth.require_registry(viewer.caller, view.record, owner=False)

    async def _page(self, viewer: Viewer, view: RegistryView) -> RegistryPage | None:
        record = view.record
        if viewer.kind == "admin" and record.id != viewer.registry_id:
            return None
        manage = False
        if viewer.caller is not None:
            manage = bool(await self._runtime.management.auth.roles_in(viewer.caller, record))
        grant = await self._runtime.policy.grant_for(record, viewer.identity)
        if grant is None:
            grant = AccessGrant()
        if not manage and not grant.permissions and not viewer.is_admin:
            return None
        return RegistryPage(view, manage, grant)
