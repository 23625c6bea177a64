"""The management API (FastAPI), mounted at `/api/v1`: registries, identities, tokens.

The app is built by `portside.api.management.app` (`management_app_for`, `create_management_app`).
This package imports nothing itself: the data plane imports small modules of it (the gate's
caller key) and must not pay for FastAPI and every route's models at a worker's start.
"""
