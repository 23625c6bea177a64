"""Repository patterns, roles, scope-map actions and access grants."""

from __future__ import annotations

import pytest

from portside.auth.permissions import (
    ALL_ACTIONS,
    MANAGE_ROLES,
    ROLES,
    AccessGrant,
    PatternError,
    Permission,
    RepositoryPattern,
    UnknownRole,
    parse_scope_map_action,
    role_actions,
)
from portside.auth.policy import Grant
from portside.auth.scopes import Scope

CATALOG = Scope("registry", "catalog", frozenset({"*"}))


def grant(pattern: str, *actions: str) -> AccessGrant:
    """A grant of `actions` on `pattern`."""
    return AccessGrant(
        permissions=(Permission(RepositoryPattern.parse(pattern), frozenset(actions)),)
    )


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("team/*", "team/app", True),
        ("team/*", "team/a/b", True),
        ("team/*", "team", False),
        ("team/*", "teamx/app", False),
        ("team/*", "other/team/app", False),
        ("*", "anything", True),
        ("*", "a/b/c", True),
        ("team/app", "team/app", True),
        ("team/app", "team/app2", False),
        ("team/app", "team/app/sub", False),
        ("team/app", "team", False),
    ],
)
def test_pattern_matching(pattern: str, name: str, expected: bool) -> None:
    assert RepositoryPattern.parse(pattern).matches(name) is expected


@pytest.mark.parametrize(
    "text", ["", "/*", "*/*", "team*", "team/*/x", "Team/*", "team/", "team//*", "**", "a" * 300]
)
def test_bad_patterns(text: str) -> None:
    with pytest.raises(PatternError):
        RepositoryPattern.parse(text)


@pytest.mark.parametrize(
    ("text", "pattern", "action"),
    [
        ("repositories/team/app/content/read", "team/app", "pull"),
        ("repositories/team/*/metadata/write", "team/*", "metadata_write"),
        ("repositories/*/content/read", "*", "pull"),
        ("repositories/app/content/write", "app", "push"),
        ("repositories/app/content/delete", "app", "delete"),
        ("repositories/app/metadata/read", "app", "metadata_read"),
    ],
)
def test_scope_map_actions(text: str, pattern: str, action: str) -> None:
    assert parse_scope_map_action(text) == (RepositoryPattern(pattern), action)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repositories/",
        "repositories/content/read",
        "repositories/app/content/execute",
        "repositories/app/content",
        "repository/app/content/read",
        "app/content/read",
        "repositories/UP/content/read",
        "repositories//content/read",
        "repositories/a" + "/b" * 600 + "/content/read",
    ],
)
def test_bad_scope_map_actions(text: str) -> None:
    with pytest.raises(PatternError):
        parse_scope_map_action(text)


def test_roles() -> None:
    assert role_actions("AcrPull") == {"pull"}
    assert role_actions("AcrPush") == {"pull", "push"}
    assert role_actions("AcrDelete") == {"delete"}
    assert role_actions("Reader") == {"pull", "metadata_read"}
    assert role_actions("Contributor") == ALL_ACTIONS == role_actions("Owner")
    # Contributor and Owner alone read and restore the recycle bin, as in ACR.
    assert {"deleted_read", "deleted_restore"} < ALL_ACTIONS and len(ALL_ACTIONS) == 7
    assert set(ROLES) >= MANAGE_ROLES
    with pytest.raises(UnknownRole):
        role_actions("Administrator")
    with pytest.raises(TypeError):
        ROLES["AcrPull"] = ALL_ACTIONS  # type: ignore[index]


def test_empty_grant_allows_nothing() -> None:
    empty = AccessGrant()
    assert not empty.allows("repository", "x", "pull")
    assert not empty.allows("registry", "catalog", "*")
    assert empty.intersect([Scope.repository("x", "pull"), CATALOG]) == ()


def test_allows_by_pattern() -> None:
    g = grant("team/*", "pull")
    checker: Grant = g
    assert checker.allows("repository", "team/app", "pull")
    assert not g.allows("repository", "team/app", "push")
    assert not g.allows("repository", "team", "pull")
    assert not g.allows("registry", "catalog", "*")
    assert not g.allows("other", "team/app", "pull")


def test_allows_by_exact_scope() -> None:
    g = AccessGrant(exact=(Scope.repository("a", "pull"), Scope.repository("b", "*")))
    assert g.allows("repository", "a", "pull")
    assert not g.allows("repository", "a", "push")
    assert not g.allows("repository", "a/b", "pull")
    assert g.allows("repository", "b", "delete")
    assert g.actions_on("b") == ALL_ACTIONS


def test_catalog() -> None:
    assert AccessGrant(catalog=True).allows("registry", "catalog", "*")
    assert not AccessGrant(catalog=True).allows("registry", "other", "*")
    assert AccessGrant(exact=(CATALOG,)).allows("registry", "catalog", "*")


def test_actions_on_unions_every_source() -> None:
    g = AccessGrant(
        permissions=(
            Permission(RepositoryPattern("*"), frozenset({"pull"})),
            Permission(RepositoryPattern("team/*"), frozenset({"push"})),
        ),
        exact=(Scope.repository("team/app", "delete"),),
    )
    assert g.actions_on("team/app") == {"pull", "push", "delete"}
    assert g.actions_on("team") == {"pull"}


def test_intersect_keeps_the_granted_part() -> None:
    g = grant("x", *ROLES["AcrPush"])
    assert g.intersect([Scope.repository("x", "pull", "push", "delete")]) == (
        Scope.repository("x", "pull", "push"),
    )


def test_intersect_star_means_everything_granted() -> None:
    g = grant("team/*", "pull", "metadata_read")
    assert g.intersect([Scope.repository("team/a", "*")]) == (
        Scope.repository("team/a", "pull", "metadata_read"),
    )


def test_intersect_omits_what_is_not_granted() -> None:
    g = grant("team/*", "pull")
    requested = [
        Scope.repository("other", "pull"),
        Scope.repository("team/a", "push"),
        CATALOG,
        Scope("registry", "other", frozenset({"*"})),
        Scope.repository("team/b", "pull"),
    ]
    assert g.intersect(requested) == (Scope.repository("team/b", "pull"),)


def test_intersect_grants_the_catalog() -> None:
    g = AccessGrant(catalog=True)
    assert g.intersect([CATALOG]) == (CATALOG,)
    assert g.intersect([Scope("registry", "catalog", frozenset({"pull"}))]) == ()


def test_union() -> None:
    a = grant("a", "pull")
    b = AccessGrant(catalog=True, exact=(Scope.repository("b", "push"),))
    both = a.union(b).union(a)
    assert both.allows("repository", "a", "pull")
    assert both.allows("repository", "b", "push")
    assert both.allows("registry", "catalog", "*")
    assert len(both.permissions) == 1
    assert not both.allows("repository", "b", "pull")


def test_access_claim_round_trip() -> None:
    g = AccessGrant(
        catalog=True,
        exact=(Scope.repository("team/app", "push", "pull"), Scope.repository("x", "delete")),
    )
    claim = g.to_access_claim()
    assert claim == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "x", "actions": ["delete"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert AccessGrant.from_access_claim(claim) == g


def test_access_claim_from_an_intersection() -> None:
    requested = [Scope.repository("a", "pull"), CATALOG]
    issued = AccessGrant(
        exact=AccessGrant(catalog=True, permissions=grant("a", "pull").permissions).intersect(
            requested
        )
    )
    back = AccessGrant.from_access_claim(issued.to_access_claim())
    assert back.catalog
    assert back.allows("repository", "a", "pull")
    assert back.exact == (Scope.repository("a", "pull"),)


def test_access_claim_without_catalog_star() -> None:
    claim = [{"type": "registry", "name": "catalog", "actions": []}]
    assert not AccessGrant.from_access_claim(claim).catalog
    assert AccessGrant.from_access_claim([]) == AccessGrant()


@pytest.mark.parametrize(
    "claim",
    [
        None,
        "repository:a:pull",
        {"type": "repository", "name": "a", "actions": ["pull"]},
        [None],
        ["repository:a:pull"],
        [{"type": "repository", "name": "a"}],
        [{"type": "repository", "name": "a", "actions": "pull"}],
        [{"type": "repository", "name": "a", "actions": [1]}],
        [{"type": "repository", "name": "a", "actions": ["pull,push"]}],
        [{"type": "repository", "name": "a", "actions": ["PULL"]}],
        [{"type": "repository", "name": 1, "actions": ["pull"]}],
        [{"type": "repository", "name": "UPPER", "actions": ["pull"]}],
        [{"type": "repository", "name": "UPPER", "actions": []}],
        [{"type": "image", "name": "a", "actions": ["pull"]}],
        [{"type": "repository", "name": f"r{i}", "actions": ["pull"]} for i in range(65)],
    ],
)
def test_malformed_access_claims(claim: object) -> None:
    with pytest.raises(ValueError):
        AccessGrant.from_access_claim(claim)


def test_the_deleted_catalog_takes_deleted_read_on_every_repository() -> None:
    everywhere = AccessGrant(
        permissions=(Permission(RepositoryPattern.parse("*"), role_actions("Contributor")),)
    )
    team = AccessGrant(
        permissions=(Permission(RepositoryPattern.parse("team/*"), role_actions("Owner")),)
    )
    deleter = AccessGrant(
        permissions=(Permission(RepositoryPattern.parse("*"), role_actions("AcrDelete")),)
    )
    wanted = (Scope("registry", "deleted_catalog", frozenset({"*"})),)
    assert everywhere.allows("registry", "deleted_catalog", "*")
    assert everywhere.intersect(wanted) == wanted
    assert not team.allows("registry", "deleted_catalog", "*") and team.intersect(wanted) == ()
    assert team.allows("repository", "team/app", "deleted_restore")
    assert deleter.intersect(wanted) == ()
    assert not deleter.allows("repository", "app", "deleted_read")
    # A token carries it in its access claim, and reads it back.
    token = AccessGrant(exact=everywhere.intersect(wanted))
    claim = token.to_access_claim()
    assert claim == [{"type": "registry", "name": "deleted_catalog", "actions": ["*"]}]
    assert AccessGrant.from_access_claim(claim).allows("registry", "deleted_catalog", "*")
    assert not AccessGrant.from_access_claim(claim).allows("registry", "catalog", "*")
