"""The management API (FastAPI), mounted at `/api/v1`: registries, identities, tokens."""

from __future__ import annotations

from portside.api.management.app import create_management_app

__all__ = ["create_management_app"]
