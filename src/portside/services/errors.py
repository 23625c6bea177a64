"""Domain errors raised by services. api/errors.py maps each to a status and an OCI code.

RegistryError
├── NameUnknown             the repository does not exist
├── BlobUnknown             no such blob readable from this repository
├── BlobUploadUnknown       no such upload session (or it expired)
├── BlobUploadInvalid       the upload cannot continue as asked
│   └── UploadRangeInvalid  a chunk that does not start where the upload ends (416)
├── SizeInvalid             declared and received sizes disagree
├── ManifestUnknown         no such manifest (or not acceptable to the client)
├── ManifestBlobUnknown     a manifest names blobs or manifests the repository lacks
├── TagUnknown              no such tag (ACR's metadata API)
├── Locked                  a lock flag (writeEnabled, deleteEnabled, readEnabled) forbids it
├── TagImmutable            the registry's tags are immutable and the push would move one
├── RestoreRefused          a recycle-bin restore that cannot be done now (409)
├── BodyInvalid             a request body Portside cannot use
├── RangeNotSatisfiable     a blob Range outside the blob (416)
├── Unsupported             a valid request for something Portside does not do
│   └── ParameterInvalid    a query parameter with a value Portside cannot use
├── QuotaExceeded           the change would take the registry past a quota (403 DENIED)
└── TooManyRequests         the registry's request rate limit is used up: retry later (429)

Errors carry values (an offset, a size), never HTTP headers: api/errors.py builds those.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "BlobUnknown",
    "BlobUploadInvalid",
    "BlobUploadUnknown",
    "BodyInvalid",
    "Locked",
    "ManifestBlobUnknown",
    "ManifestUnknown",
    "NameUnknown",
    "ParameterInvalid",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RegistryError",
    "RestoreRefused",
    "SizeInvalid",
    "TagImmutable",
    "TagUnknown",
    "TooManyRequests",
    "Unsupported",
    "UploadRangeInvalid",
]


class RegistryError(Exception):
    """Base class of domain errors; `message` and `detail` are echoed to the client."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameUnknown(RegistryError):
    """The repository is not known in this registry."""


class BlobUnknown(RegistryError):
    """The blob is not known to this repository."""


class BlobUploadUnknown(RegistryError):
    """The upload session is not known (never started, finished, cancelled, or expired)."""


class BlobUploadInvalid(RegistryError):
    """The upload cannot proceed as requested."""


class UploadRangeInvalid(BlobUploadInvalid):
    """A chunk's Content-Range does not continue the upload, which ends at `offset`.

    `session` (repository, upload id), once known, lets the answer name the upload to go on with.
    """

    def __init__(self, size: int) -> None:
        super().__init__(f"chunk must start at offset {size}", {"offset": size})
        self.offset = size
        self.session: tuple[str, str] | None = None


class SizeInvalid(RegistryError):
    """Content length disagrees with what was declared."""


class ManifestUnknown(RegistryError):
    """The manifest is not known to this repository."""


class ManifestBlobUnknown(RegistryError):
    """The manifest references content the repository does not hold."""


class TagUnknown(RegistryError):
    """The tag is not known to this repository."""


class Locked(RegistryError):
    """A lock forbids the operation: `level` ("repository", "tag", "manifest") `name` has
    `action` ("write", "delete", "read") disabled."""

    def __init__(self, level: str, name: str, action: str) -> None:
        super().__init__(
            f"{level} {name} is {action}-disabled",
            {"level": level, "name": name, "attribute": f"{action}Enabled"},
        )


class TagImmutable(RegistryError):
    """The registry's tags are immutable, and the push would move an existing tag."""

    def __init__(self, tag: str) -> None:
        super().__init__(
            f"tag {tag} already names another manifest and tags are immutable in this registry",
            {"tag": tag},
        )


class RestoreRefused(RegistryError):
    """A recycle-bin restore refused: the repository is write-disabled, something the entry
    needs is gone, or the storage quota would be exceeded."""


class BodyInvalid(RegistryError):
    """The request body is not what the endpoint takes (malformed JSON, unknown keys...)."""


class RangeNotSatisfiable(RegistryError):
    """The requested byte range lies outside the blob of `size` bytes."""

    def __init__(self, size: int) -> None:
        super().__init__("requested range not satisfiable", {"size": size})
        self.size = size


class Unsupported(RegistryError):
    """The operation is valid but not supported."""


class ParameterInvalid(Unsupported):
    """A query parameter with a value Portside cannot use."""


class QuotaExceeded(RegistryError):
    """The change would take the registry past a quota (storage, repositories, ...)."""


class TooManyRequests(RegistryError):
    """The registry's reads or writes per minute are used up: retry after `retry_after` whole
    seconds (at least 1), when the window ends."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
