"""Every storage key Portside uses is built here.

    blobs/<algorithm>/<first two hex>/<hex>     committed, verified content
    uploads/<upload id>                         bytes of an upload in progress

Content is addressed by digest only: the same bytes pushed to two repositories (or two
registries) are stored once. Which repository may read a blob is metadata, not layout.
"""

from __future__ import annotations

import re

from portside.oci.digests import Digest

__all__ = ["blob_key", "upload_key", "validate_upload_id"]

_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def blob_key(digest: Digest) -> str:
    """The key of a committed blob."""
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def validate_upload_id(upload_id: str) -> bool:
    """True if `upload_id` is safe to use in a key (ids come from clients in URLs)."""
    return bool(_UPLOAD_ID.fullmatch(upload_id))


def upload_key(upload_id: str) -> str:
    """The key of an upload's bytes; callers must have validated the id."""
    if not validate_upload_id(upload_id):
        raise ValueError(f"unsafe upload id {upload_id!r}")
    return f"uploads/{upload_id}"
