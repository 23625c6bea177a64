"""The route table: every endpoint with the access rule the access step enforces for it."""

from __future__ import annotations

from starlette.routing import Route

from portside.api import health, metrics, oauth
from portside.api.access import CATALOG, DELETE, NONE, PULL, PUSH, guarded
from portside.api.acr.routes import acr_routes
from portside.api.v2 import base, blobs, listings, manifests, referrers, uploads

__all__ = ["routes"]

_NAME = "/v2/{name:path}"


def routes() -> list[Route]:
    """All /v2/ routes. Names may contain slashes; the suffixes keep matches unambiguous."""
    table = [
        ("/v2/", ["GET"], base.version_check, NONE),
        ("/v2/_catalog", ["GET"], listings.catalog, CATALOG),
        (f"{_NAME}/tags/list", ["GET"], listings.tags_list, PULL),
        (f"{_NAME}/manifests/{{reference}}", ["GET", "HEAD"], manifests.get_manifest, PULL),
        (f"{_NAME}/manifests/{{reference}}", ["PUT"], manifests.put_manifest, PUSH),
        (f"{_NAME}/manifests/{{reference}}", ["DELETE"], manifests.delete_manifest, DELETE),
        (f"{_NAME}/blobs/uploads/", ["POST"], uploads.start_upload, PUSH),
        (f"{_NAME}/blobs/uploads", ["POST"], uploads.start_upload, PUSH),
        (f"{_NAME}/blobs/uploads/{{uuid}}", ["PATCH"], uploads.patch_upload, PUSH),
        (f"{_NAME}/blobs/uploads/{{uuid}}", ["PUT"], uploads.finish_upload, PUSH),
        (f"{_NAME}/blobs/uploads/{{uuid}}", ["GET"], uploads.upload_status, PUSH),
        (f"{_NAME}/blobs/uploads/{{uuid}}", ["DELETE"], uploads.cancel_upload, PUSH),
        (f"{_NAME}/blobs/{{digest}}", ["GET", "HEAD"], blobs.get_blob, PULL),
        (f"{_NAME}/blobs/{{digest}}", ["DELETE"], blobs.delete_blob, DELETE),
        (f"{_NAME}/referrers/{{digest}}", ["GET"], referrers.list_referrers, PULL),
    ]
    probes = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/oauth2/token", oauth.token_get, methods=["GET"]),
        Route("/oauth2/token", oauth.token_post, methods=["POST"]),
        Route("/oauth2/exchange", oauth.exchange, methods=["POST"]),
        Route("/oauth2/keys", oauth.jwks, methods=["GET"]),
    ]
    probes += acr_routes()  # ACR's /acr/v1 metadata API, each route guarded in api/acr/routes.py
    # /v2/ first: the router tries routes in order, and pulls and tag lists are the hot path
    # (no other route's path starts with /v2/, so the order changes no match).
    return [
        Route(path, guarded(endpoint, rule), methods=methods)
        for path, methods, endpoint, rule in table
    ] + probes
