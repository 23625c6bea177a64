"""Parsing Docker token-auth scope strings."""

from __future__ import annotations

import pytest

from portside.auth.scopes import MAX_SCOPES, Scope, ScopeError, parse_scopes


def test_parse_repository_scope() -> None:
    scope = Scope.parse("repository:team/app:pull,push")
    assert scope == Scope.repository("team/app", "pull", "push")
    assert str(scope) == "repository:team/app:pull,push"


def test_parse_registry_catalog() -> None:
    assert Scope.parse("registry:catalog:*") == Scope("registry", "catalog", frozenset({"*"}))


def test_resource_class_suffix_is_dropped() -> None:
    assert Scope.parse("repository(plugin):x:pull") == Scope.repository("x", "pull")


def test_actions_come_after_the_last_colon() -> None:
    # The name runs to the last colon, so a colon in it reaches the name validator.
    with pytest.raises(ScopeError, match="repository name"):
        Scope.parse("repository:a:b:pull")


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":::",
        "repository",
        "repository:app",
        "repository::pull",
        "repository:UPPER:pull",
        "repository:app:",
        "repository:app:pull,",
        "repository:app:Pull",
        "repository:app:pu-ll",
        "repository:team//app:pull",
        "image:app:pull",
        "Repository:app:pull",
        "repository(:app:pull",
        "registry::*",
        "registry:cat alog:*",
        "repository:" + "a" * 2000 + ":pull",
        "repository:" + "a" * 256 + ":pull",
    ],
)
def test_junk_is_refused(text: str) -> None:
    with pytest.raises(ScopeError):
        Scope.parse(text)


def test_scope_error_is_a_value_error() -> None:
    assert issubclass(ScopeError, ValueError)


def test_parse_scopes_splits_on_spaces_and_merges_duplicates() -> None:
    scopes = parse_scopes(
        ["repository:b:pull repository:a:pull", "repository:b:push", "registry:catalog:*"]
    )
    assert scopes == (
        Scope.repository("b", "pull", "push"),
        Scope.repository("a", "pull"),
        Scope("registry", "catalog", frozenset({"*"})),
    )


def test_parse_scopes_of_nothing() -> None:
    assert parse_scopes([]) == ()
    assert parse_scopes(["", "   "]) == ()


def test_too_many_scopes_are_refused() -> None:
    many = [f"repository:r{i}:pull" for i in range(100)]
    with pytest.raises(ScopeError, match="more than"):
        parse_scopes(many)
    with pytest.raises(ScopeError, match="more than"):
        parse_scopes([" ".join(many)])


def test_the_limit_counts_scopes_before_merging() -> None:
    assert len(parse_scopes([f"repository:r{i}:pull" for i in range(MAX_SCOPES)])) == MAX_SCOPES
    with pytest.raises(ScopeError):
        parse_scopes(["repository:same:pull"] * (MAX_SCOPES + 1))


def test_one_bad_scope_fails_the_lot() -> None:
    with pytest.raises(ScopeError):
        parse_scopes(["repository:a:pull repository::pull"])
