"""Errors raised while parsing OCI values.

OciValueError
├── DigestInvalid      a digest string or its bytes do not check out
├── NameInvalid        a repository name outside the spec's grammar
├── TagInvalid         a tag outside the spec's grammar
└── ManifestInvalid    a manifest that is not valid JSON or not a known schema
    └── ManifestTooLarge   a manifest over the size limit
"""

from __future__ import annotations


class OciValueError(ValueError):
    """Base class for values that do not follow the OCI specifications."""


class DigestInvalid(OciValueError):
    """A digest that is malformed, of an unsupported algorithm, or does not match content."""


class NameInvalid(OciValueError):
    """A repository name that does not follow the distribution spec's grammar."""


class TagInvalid(OciValueError):
    """A tag that does not follow the distribution spec's grammar."""


class ManifestInvalid(OciValueError):
    """A manifest body that cannot be accepted."""


class ManifestTooLarge(ManifestInvalid):
    """A manifest body over the registry's size limit."""
