"""docs/management.md against the management API it describes: every route, every field."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from portside.api.management import (
    audit,
    credential_sets,
    identities,
    imports,
    issuers,
    lifecycle,
    registries,
    replications,
    tokens,
    usage,
    webhooks,
)
from portside.api.management.models import Registry, RegistryUpdate

DOC = (Path(__file__).parents[2] / "docs" / "management.md").read_text()
_PARAM = re.compile(r"\{[^}]*\}")


def _routes() -> list[tuple[str, str]]:
    found = []
    modules = (registries, usage, tokens, identities, issuers, lifecycle, webhooks, audit)
    for module in (*modules, replications, credential_sets, imports):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            found += [(method, route.path) for method in sorted(route.methods)]
    return found


def test_every_route_is_in_the_routes_tables() -> None:
    # Path parameters are compared by position, not name ({scope_map} is {scope-map} there).
    doc = _PARAM.sub("{}", DOC)
    missing = [f"{m} {p}" for m, p in _routes() if f"`{m} {_PARAM.sub('{}', p)}" not in doc]
    assert not missing, missing


def test_every_registry_field_is_documented() -> None:
    for model in (Registry, RegistryUpdate):
        for name, field in model.model_fields.items():
            alias = field.alias or name
            assert f'"{alias}"' in DOC or f"`{alias}`" in DOC, (model.__name__, alias)


def test_skus_are_not_said_to_be_without_limits() -> None:
    """SKUs set the default quotas, which are enforced (docs/quotas.md)."""
    assert "no tier limits" not in DOC
    assert "quotas.md" in DOC
