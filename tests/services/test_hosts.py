"""Which registry a Host header addresses (services.access.hosts)."""

from __future__ import annotations

import pytest

from portside.services.access.hosts import RegistryDirectory, hostname_of, well_formed_host


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "contoso.registry.example:5000",
        "CONTOSO.Registry.Example",
        "127.0.0.1:443",
        "[::1]",
        "[2001:DB8::1]:5000",
        "a" * 253,
    ],
)
def test_hosts_clients_send_are_well_formed(host: str) -> None:
    assert well_formed_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        " ",
        'a"b',
        "contoso.localhost/x",
        "contoso.localhost:x",
        "contoso.localhost:123456",
        "under_score.localhost",
        "a" * 254,
        "[::1",
        "[x]",
        "[:]",
        "\u212aelvin.localhost",  # KELVIN SIGN: a letter only to case-insensitive Unicode rules
        "host:\u0661\u0662",  # ARABIC-INDIC digits
    ],
)
def test_anything_else_is_not(host: str) -> None:
    assert not well_formed_host(host)


def test_hostname_drops_the_port_and_the_brackets() -> None:
    assert hostname_of(" Contoso.Localhost:5000 ") == "contoso.localhost"
    assert hostname_of("[::1]:5000") == "::1"


def test_login_servers_name_their_registry_and_other_hosts_the_default() -> None:
    directory = RegistryDirectory(None, domain="localhost", default="default")  # type: ignore[arg-type]
    assert directory.name_for_host("contoso.localhost:5000") == "contoso"
    assert directory.name_for_host("CONTOSO.LOCALHOST") == "contoso"
    assert directory.name_for_host("127.0.0.1:5000") == "default"
    assert directory.name_for_host("a.b.localhost") == ""
    assert directory.name_for_host("under_score.localhost") == ""
