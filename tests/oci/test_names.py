"""Repository name and tag grammar."""

from __future__ import annotations

import pytest

from portside.oci.errors import NameInvalid, TagInvalid
from portside.oci.names import validate_name, validate_tag


@pytest.mark.parametrize(
    "name",
    [
        "web",
        "warrantydept/customersubmissions/web",
        "a.b_c__d-e---f/g0",
        "marketing/products/test/functionaltest",
        "a" * 255,
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "UPPER", "../x", "a//b", "/a", "a/", "-a", "a-", "a..b", "a___b", "a" * 256, "a b", "é"],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "A-b_c.d", "a" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a" * 129, "a/b", "a:b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)
