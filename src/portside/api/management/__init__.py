"""The management API (FastAPI), mounted at `/api/v1`: registries, identities, tokens."""

from __future__ import annotations

from portside.api.management.app import create_management_app, management_app_for

__all__ = ["create_management_app", "management_app_for"]
