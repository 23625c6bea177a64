"""Policy pages: lifecycle policies (untagged retention, soft delete), keep-last-N retention
rules and quotas; the recycle bin with restore; webhooks with their delivery log and a
redeliver button. All of it needs Contributor or Owner, as in the management API."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.metadata.retention import LifecyclePolicy
from portside.oci.names import validate_name
from portside.portal.web import managed_form, managed_page, portal_of, runtime_of
from portside.services.events.webhooks import ACTIONS, WebhookSpec
from portside.services.management.errors import Invalid

__all__ = ["routes"]

# Events shown per webhook on its page (the store keeps more; the API lists them all).
_EVENTS_SHOWN = 20


async def policies(request: Request) -> Response:
    """The registry's lifecycle policies, retention rules and quotas."""
    viewer, page = await managed_page(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    runtime = runtime_of(request)
    context = {
        "page": page,
        "policy": await runtime.lifecycle.policy(name),
        "rules": await runtime.lifecycle.rules(name),
        "usage": await runtime.management.registries.usage(name),
    }
    return portal.render(request, "policies.html", context, viewer=viewer)


async def set_policy(request: Request) -> Response:
    """Replace the lifecycle policies (an empty day count switches that policy off)."""
    name, fields = await managed_form(request)
    policy = LifecyclePolicy(
        retention_untagged_days=_days(fields.get("retention_untagged_days", "")),
        soft_delete_days=_days(fields.get("soft_delete_days", "")),
        keep_orphan_referrers=fields.get("keep_orphan_referrers") == "on",
    )
    await runtime_of(request).lifecycle.update_policy(name, policy)
    return _back(request, name, "policies")


async def add_rule(request: Request) -> Response:
    """Add a keep-last-N retention rule."""
    name, fields = await managed_form(request)
    keep = _days(fields.get("keep_last", ""))
    await runtime_of(request).lifecycle.add_rule(
        name,
        fields.get("repositories", "").strip(),
        fields.get("tag_filter", "").strip() or ".*",
        -1 if keep is None else keep,
    )
    return _back(request, name, "policies")


async def delete_rule(request: Request) -> Response:
    """Remove a retention rule."""
    name, fields = await managed_form(request)
    rule = _days(fields.get("rule", ""))
    await runtime_of(request).lifecycle.delete_rule(name, -1 if rule is None else rule)
    return _back(request, name, "policies")


async def recycle_bin(request: Request) -> Response:
    """Deleted repositories in the recycle bin; with `?repository=`, its deleted manifests."""
    viewer, page = await managed_page(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    lifecycle = runtime_of(request).lifecycle
    chosen = request.query_params.get("repository", "")
    repository = validate_name(chosen) if chosen else ""
    context = {
        "page": page,
        "repositories": await lifecycle.deleted_repositories(name, include_live=True),
        "repository": repository,
        "manifests": await lifecycle.deleted_manifests(name, repository) if repository else [],
    }
    return portal.render(request, "recycle_bin.html", context, viewer=viewer)


async def restore(request: Request) -> Response:
    """Bring a manifest back with the tags it had (a taken tag stays where it is)."""
    name, fields = await managed_form(request)
    repository = validate_name(fields.get("repository", ""))
    await runtime_of(request).lifecycle.restore(name, repository, fields.get("digest", ""), None)
    root = request.scope.get("root_path", "")
    query = urlencode({"repository": repository})
    return RedirectResponse(f"{root}/registries/{name}/tags?{query}", 303)


async def webhooks(request: Request) -> Response:
    """The registry's webhooks, each with its recent deliveries."""
    viewer, page = await managed_page(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    service = runtime_of(request).webhooks
    hooks = await service.list(name)
    events = {hook.name: (await service.events(name, hook.name))[:_EVENTS_SHOWN] for hook in hooks}
    context = {"page": page, "hooks": hooks, "events": events, "actions": ACTIONS}
    return portal.render(request, "webhooks.html", context, viewer=viewer)


async def create_webhook(request: Request) -> Response:
    """Add a webhook for the checked actions."""
    name, fields = await managed_form(request)
    spec = WebhookSpec(
        uri=fields.get("uri", "").strip(),
        actions=[action for action in ACTIONS if fields.get(f"action-{action}") == "on"],
        scope=fields.get("scope", "").strip(),
    )
    await runtime_of(request).webhooks.create(name, fields.get("webhook", "").strip(), spec)
    return _back(request, name, "webhooks")


async def redeliver(request: Request) -> Response:
    """Send an event again (a new attempt; receivers deduplicate by its id)."""
    name, fields = await managed_form(request)
    await runtime_of(request).webhooks.redeliver(
        name, fields.get("webhook", ""), fields.get("event", "")
    )
    return _back(request, name, "webhooks")


def _days(text: str) -> int | None:
    """A whole number from a form field; None when empty, Invalid when not a number."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise Invalid(f"{text[:20]!r} is not a whole number")
    return int(text)


def _back(request: Request, name: str, page: str) -> Response:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{name}/{page}", 303)


def routes() -> list[Route]:
    """The policy and webhook routes."""
    return [
        Route("/registries/{name}/policies", policies, methods=["GET"]),
        Route("/registries/{name}/policies", set_policy, methods=["POST"]),
        Route("/registries/{name}/retention-rules", add_rule, methods=["POST"]),
        Route("/registries/{name}/retention-rules/delete", delete_rule, methods=["POST"]),
        Route("/registries/{name}/recycle-bin", recycle_bin, methods=["GET"]),
        Route("/registries/{name}/recycle-bin/restore", restore, methods=["POST"]),
        Route("/registries/{name}/webhooks", webhooks, methods=["GET"]),
        Route("/registries/{name}/webhooks", create_webhook, methods=["POST"]),
        Route("/registries/{name}/webhooks/redeliver", redeliver, methods=["POST"]),
    ]
