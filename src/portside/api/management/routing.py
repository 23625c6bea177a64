"""The router class every management resource module uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from portside.api.management.errors import ERROR_RESPONSES

__all__ = ["ManagementRouter"]


class ManagementRouter(APIRouter):
    """An APIRouter whose answers leave out `null` fields (a secret's absent `value`, an
    expiry that never comes) and whose OpenAPI entries list the error answers."""

    def __init__(self, *, tag: str) -> None:
        """A router whose routes are grouped under `tag` in the OpenAPI document."""
        super().__init__(tags=[tag], responses=ERROR_RESPONSES)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        """Add a route, always with `response_model_exclude_none`."""
        kwargs["response_model_exclude_none"] = True
        super().add_api_route(path, endpoint, **kwargs)
