"""Repository names and tags, per the distribution spec's grammar."""

from __future__ import annotations

import re

from portside.oci.errors import NameInvalid, TagInvalid

__all__ = ["MAX_NAME_LENGTH", "validate_name", "validate_tag"]

# distribution-spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
# The spec lets registries cap names; 255 matches what docker and distribution accept.
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    """Return `name` unchanged if it is a valid repository name, else raise NameInvalid."""
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(f"repository name longer than {MAX_NAME_LENGTH} characters")
    if not _NAME.fullmatch(name):
        raise NameInvalid(f"invalid repository name {name[:80]!r}")
    return name


def validate_tag(tag: str) -> str:
    """Return `tag` unchanged if it is a valid tag, else raise TagInvalid."""
    if not _TAG.fullmatch(tag):
        raise TagInvalid(f"invalid tag {tag[:80]!r}")
    return tag
