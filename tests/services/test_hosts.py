"""Which registry a Host header addresses (services.access.hosts)."""

from __future__ import annotations

import pytest

from portside.metadata.records import RegistryRecord
from portside.services.access.hosts import (
    LocalLoginServers,
    RegistryDirectory,
    hostname_of,
    port_of,
    well_formed_host,
)
from portside.services.errors import ParameterInvalid


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


class _Registries:
    """A RegistryStore stand-in: registries by name, each with its login slot."""

    def __init__(self, *records: RegistryRecord) -> None:
        self.records = {record.name: record for record in records}

    async def get(self, name: str) -> RegistryRecord | None:
        return self.records.get(name)

    async def by_login_slot(self, slot: int) -> RegistryRecord | None:
        return next((r for r in self.records.values() if r.login_slot == slot), None)


LOCAL = LocalLoginServers("127.0.0.1", range(5001, 5101))


def _directory(store: _Registries, local: LocalLoginServers | None = LOCAL) -> RegistryDirectory:
    return RegistryDirectory(store, domain="localhost", default="default", local=local)  # type: ignore[arg-type]


def test_loopback_login_servers_have_a_port_per_slot() -> None:
    assert LOCAL.port(1) == 5001 and LOCAL.login_server(100) == "127.0.0.1:5100"
    assert LOCAL.port(None) is None and LOCAL.port(0) is None and LOCAL.login_server(101) is None
    assert LOCAL.slot_for_host("127.0.0.1:5001") == 1
    assert LOCAL.slot_for_host("localhost:5100") == 100
    assert LOCAL.slot_for_host("127.0.0.2:5002") == 2
    assert LocalLoginServers("[::1]", range(5001, 5003)).slot_for_host("[::1]:5002") == 2
    # The main port, ports outside the range, and names other than loopback are no slot.
    for host in ("127.0.0.1:5000", "127.0.0.1:5101", "127.0.0.1", "contoso.localhost:5001"):
        assert LOCAL.slot_for_host(host) is None, host
    assert LOCAL.slot_for_host("10.0.0.1:5001") is None
    assert port_of("[::1]:5001") == 5001 and port_of("[::1]") is None and port_of("a:b") is None


@pytest.mark.anyio
async def test_a_loopback_login_server_resolves_to_the_registry_holding_its_slot() -> None:
    store = _Registries(RegistryRecord(1, "default"), RegistryRecord(2, "contoso", login_slot=1))
    directory = _directory(store)
    assert (await directory.resolve_or_raise("127.0.0.1:5001")).name == "contoso"
    # Read back synchronously (a token's audience), as the last resolve found it.
    assert directory.name_for_host("127.0.0.1:5001") == "contoso"
    assert (await directory.resolve_or_raise("127.0.0.1:5000")).name == "default"
    assert (await directory.resolve_or_raise("contoso.localhost:5000")).name == "contoso"
    # Resolved by its name, a registry's slot is known too: a token for its loopback login
    # server names it wherever it is presented.
    fresh = _directory(store)
    assert fresh.name_for_host("127.0.0.1:5001") == ""
    await fresh.resolve_or_raise("contoso.localhost:5000")
    assert fresh.name_for_host("127.0.0.1:5001") == "contoso"
    # A free slot reaches nothing, never the default registry.
    assert await directory.resolve("127.0.0.1:5002") is None
    assert directory.name_for_host("127.0.0.1:5002") == ""
    # Another registry takes the slot: the next request finds it, and the audience follows.
    store.records = {"fabrikam": RegistryRecord(3, "fabrikam", login_slot=1)}
    assert (await directory.resolve_or_raise("127.0.0.1:5001")).name == "fabrikam"
    assert directory.name_for_host("127.0.0.1:5001") == "fabrikam"
    # Off loopback (no local login servers) such a host is just an address: the default.
    assert _directory(store, None).name_for_host("127.0.0.1:5001") == "default"


@pytest.mark.anyio
async def test_a_token_service_must_name_the_registry_of_the_host() -> None:
    store = _Registries(
        RegistryRecord(1, "default"),
        RegistryRecord(2, "contoso", login_slot=1),
        RegistryRecord(3, "fabrikam", login_slot=2),
    )
    directory = _directory(store)
    registry, service = await directory.resolve_service("127.0.0.1:5001", None)
    assert (registry.name, service) == ("contoso", "127.0.0.1:5001")
    registry, _ = await directory.resolve_service("127.0.0.1:5001", "contoso.localhost:5000")
    assert registry.name == "contoso"
    registry, _ = await directory.resolve_service("contoso.localhost:5000", "localhost:5001")
    assert registry.name == "contoso"
    for host, service in (("127.0.0.1:5001", "127.0.0.1:5002"), ("127.0.0.1:5000", "[::1]:5001")):
        with pytest.raises(ParameterInvalid):
            await directory.resolve_service(host, service)
