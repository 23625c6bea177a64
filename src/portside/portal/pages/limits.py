"""Registry limits: immutable tags (per registry, as the management API models them) and
quota overrides (the deployment administrator only, as the management API decides: the
service refuses anyone else)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.web import managing, runtime_of
from portside.services.lifecycle.usage import QUOTAS
from portside.services.management.errors import Invalid

__all__ = ["parse_quota", "routes"]

# The units the CLI's `--quota-storage` takes (binary: 1 KiB is 1024 bytes).
_UNITS = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = re.compile(r"\s*([0-9]{1,20}(?:\.[0-9]{1,9})?)\s*([A-Za-z]{0,3})\s*")


def parse_quota(quota: str, text: str) -> int | None:
    """A quota override from a form field: empty is the SKU's default (None); storage takes
    bytes or a binary unit (`10GiB`), the others a whole number; Invalid otherwise."""
    text = text.strip()
    if not text:
        return None
    label = QUOTAS[quota].label
    match = _SIZE.fullmatch(text)
    factor = _UNITS.get(match.group(2).lower() or "b") if match else None
    if match is None or factor is None or (quota != "storage_bytes" and match.group(2)):
        hint = "bytes or a size such as 10GiB" if quota == "storage_bytes" else "a whole number"
        raise Invalid(f"the {label} quota {text[:40]!r} is not {hint} (empty: the SKU's)")
    try:
        value = Decimal(match.group(1)) * factor
    except InvalidOperation:
        raise Invalid(f"the {label} quota {text[:40]!r} is not a number") from None
    if value != value.to_integral_value():
        raise Invalid(f"the {label} quota {text[:40]!r} is not a whole number")
    return int(value)


async def immutable_tags(request: Request) -> Response:
    """Switch immutable tags on or off (Contributor or Owner, as PATCH /registries/{name})."""
    viewer, page, fields = await managing(request)
    name = page.name
    assert viewer.caller is not None  # managing needs a management identity
    await runtime_of(request).management.registries.update(
        name, caller=viewer.caller, immutable_tags=fields.get("immutable_tags") == "on"
    )
    return _policies(request, name)


async def quotas(request: Request) -> Response:
    """Set or reset every quota override (the administrator only: the service says so)."""
    viewer, page, fields = await managing(request)
    name = page.name
    assert viewer.caller is not None
    overrides = {quota: parse_quota(quota, fields.get(quota, "")) for quota in QUOTAS}
    await runtime_of(request).management.registries.update(
        name, caller=viewer.caller, quotas=overrides
    )
    return _policies(request, name)


def _policies(request: Request, name: str) -> Response:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{name}/policies", 303)


def routes() -> list[Route]:
    """The immutable-tags and quota routes."""
    return [
        Route("/registries/{name}/immutable-tags", immutable_tags, methods=["POST"]),
        Route("/registries/{name}/quotas", quotas, methods=["POST"]),
    ]
