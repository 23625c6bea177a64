"""Reading the Authorization header into typed credentials (api.credentials)."""

from __future__ import annotations

import base64

import pytest
from starlette.datastructures import Headers

from portside.api.credentials import credentials_of
from portside.auth.credentials import MAX_AUTHORIZATION_LENGTH, Basic, Bearer, Malformed
from portside.auth.errors import Unauthorized


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _read(value: str) -> object:
    return credentials_of(Headers({"Authorization": value}))


def test_no_header_is_no_credentials() -> None:
    assert credentials_of(Headers({})) is None
    assert _read("") is None


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
def test_basic_credentials_are_decoded(scheme: str) -> None:
    assert _read(f"{scheme} {_b64(b'ci:s3cret')}") == Basic("ci", "s3cret")


def test_basic_password_may_hold_colons_and_unicode() -> None:
    assert _read("Basic " + _b64("tök:a:b:😀".encode())) == Basic("tök", "a:b:😀")


def test_basic_may_be_empty_on_either_side_of_the_colon() -> None:
    assert _read("Basic " + _b64(b":")) == Basic("", "")


def test_surrounding_blanks_are_ignored() -> None:
    assert _read(f"  Basic   {_b64(b'u:p')}  ") == Basic("u", "p")
    assert _read("Bearer   a.b.c  ") == Bearer("a.b.c")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_bearer_tokens_are_taken_as_sent(scheme: str) -> None:
    assert _read(f"{scheme} a.b.c") == Bearer("a.b.c")
    assert _read(scheme) == Bearer("")


@pytest.mark.parametrize(
    "value",
    [
        "Basic",
        "Basic !!!",
        "Basic " + _b64(b"no-colon"),
        "Basic " + _b64(b"\xff\xfe:\xc3\x28"),
        "Basic \xff\xfe\xe9",
    ],
)
def test_unreadable_basic_credentials_are_malformed(value: str) -> None:
    assert _read(value) == Malformed("malformed basic credentials")


@pytest.mark.parametrize("value", ["Digest username=x", "Negotiate YII=", " ", "Basic\tdTpw"])
def test_other_schemes_are_malformed(value: str) -> None:
    assert _read(value) == Malformed("unsupported authorization scheme")


def test_the_length_bound_is_inclusive() -> None:
    token = "a" * (MAX_AUTHORIZATION_LENGTH - len("Bearer "))
    assert _read("Bearer " + token) == Bearer(token)
    assert _read("Bearer " + token + "a") == Malformed("authorization header too long")


def test_malformed_credentials_are_refused_as_unauthorized() -> None:
    error = Malformed("malformed basic credentials").error()
    assert isinstance(error, Unauthorized)
    assert error.message == "malformed basic credentials"


def test_secrets_stay_out_of_reprs() -> None:
    assert "s3cret" not in repr(Basic("ci", "s3cret"))
    assert "a.b.c" not in repr(Bearer("a.b.c"))
