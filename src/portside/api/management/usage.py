"""Route: `GET /registries/{name}/usage`, what a registry uses of each quota and its limits.

The answer has one object per quota (`storage`, `repositories`, `tokens`, `scopeMaps`,
`webhooks`: `{"used", "limit"}`), and under `value` the same figures as ARM's listUsages
(what `az acr show-usage` prints): `[{"name": "Size", "currentValue", "limit", "unit":
"Bytes"}, ...]`. A `limit` of `null` is unlimited; unlike other answers, nulls are kept here.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from portside.api.management.models import ApiModel
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller, service_of
from portside.services.lifecycle.usage import QuotaUsage, UsageReport

__all__ = ["QuotaFigures", "RegistryUsage", "Usage", "router"]

router = ManagementRouter(tag="registries")


class QuotaFigures(ApiModel):
    """One quota: what is used (bytes for storage, else a count) and the limit (null: none)."""

    used: int
    limit: int | None

    @classmethod
    def of(cls, usage: QuotaUsage) -> QuotaFigures:
        """From the service's usage of one quota."""
        return cls.from_record(usage)


class Usage(ApiModel):
    """One quota as ARM's listUsages writes it."""

    name: str
    current_value: int
    limit: int | None
    unit: str

    @classmethod
    def of(cls, usage: QuotaUsage) -> Usage:
        """From the service's usage of one quota."""
        return cls(
            name=usage.usage_name, current_value=usage.used, limit=usage.limit, unit=usage.unit
        )


class RegistryUsage(ApiModel):
    """Usage of every quota of a registry, by quota and as ARM's list."""

    storage: QuotaFigures
    repositories: QuotaFigures
    tokens: QuotaFigures
    scope_maps: QuotaFigures
    webhooks: QuotaFigures
    value: list[Usage]

    @classmethod
    def of(cls, report: UsageReport) -> RegistryUsage:
        """From the service's usage report."""
        return cls(
            storage=QuotaFigures.of(report["storage_bytes"]),
            repositories=QuotaFigures.of(report["repositories"]),
            tokens=QuotaFigures.of(report["tokens"]),
            scope_maps=QuotaFigures.of(report["scope_maps"]),
            webhooks=QuotaFigures.of(report["webhooks"]),
            value=[Usage.of(usage) for usage in report.quotas],
        )


@router.get("/registries/{name}/usage", summary="Show usage", response_model=RegistryUsage)
async def show_usage(request: Request, name: str, caller: ContributorCaller) -> JSONResponse:
    """Storage (bytes of distinct blobs: a layer shared by repositories counts once),
    repositories, tokens, user scope maps and webhooks, each with its limit (the registry's
    override, else its SKU's default; `null` is unlimited)."""
    report = await service_of(request).registries.usage(name)
    body = RegistryUsage.of(report).model_dump(mode="json", by_alias=True)
    return JSONResponse(body)
