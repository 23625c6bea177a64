"""The loopback login servers' forwarder (runtime/forwarder.py): ports follow the registries,
bytes go both ways unchanged, half-closes pass through."""

from __future__ import annotations

import socket

import anyio
import pytest
from anyio.abc import SocketStream

from portside.metadata.records import RegistryRecord
from portside.runtime.forwarder import LoginServerForwarder
from portside.services.access.hosts import LocalLoginServers

pytestmark = pytest.mark.anyio


class _Registries:
    """A RegistryStore stand-in holding registries by name."""

    def __init__(self, *records: RegistryRecord) -> None:
        self.records = {record.name: record for record in records}

    async def list(self) -> list[RegistryRecord]:
        return list(self.records.values())

    async def assign_login_slot(self, name: str) -> RegistryRecord | None:
        taken = {r.login_slot for r in self.records.values()}
        slot = next(n for n in range(1, 100) if n not in taken)
        record = self.records[name]
        self.records[name] = RegistryRecord(record.id, record.name, login_slot=slot)
        return self.records[name]


def _free_ports(count: int) -> range:
    """`count` consecutive loopback ports that were free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as trial:
                    trial.bind(("127.0.0.1", port))
        except OSError:
            continue
        return range(first, first + count)
    raise RuntimeError("no free ports")


async def _upper(stream: SocketStream) -> None:
    """The target: answers everything it reads, uppercased, then closes after the client's EOF."""
    async with stream:
        received = b""
        try:
            while True:
                received += await stream.receive()
        except anyio.EndOfStream:
            pass
        await stream.send(received.upper())


async def _exchange(port: int, payload: bytes) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(payload)
        await stream.send_eof()
        answer = b""
        try:
            while True:
                answer += await stream.receive()
        except anyio.EndOfStream:
            return answer


async def _refused(port: int) -> bool:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        return True
    await stream.aclose()
    return False


async def test_login_servers_open_and_close_with_their_registries() -> None:
    ports = _free_ports(4)
    target_port, local = ports[0], LocalLoginServers("127.0.0.1", ports[1:])
    store = _Registries(
        RegistryRecord(1, "default", login_slot=None),
        RegistryRecord(2, "contoso", login_slot=1),
        RegistryRecord(3, "old", login_slot=None),
    )
    forwarder = LoginServerForwarder(
        store,  # type: ignore[arg-type]
        local,
        bind="127.0.0.1",
        target=("127.0.0.1", target_port),
        default_registry="default",
    )
    target = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=target_port)
    async with target, anyio.create_task_group() as tasks:
        tasks.start_soon(target.serve, _upper)
        await forwarder.follow(tasks)
        # The registry without a slot got one; the default registry needs none.
        assert store.records["old"].login_slot == 2
        assert store.records["default"].login_slot is None
        big = b"x" * (1 << 20) + b"end"
        assert await _exchange(ports[1], big) == big.upper()
        assert await _exchange(ports[2], b"host: 127.0.0.1") == b"HOST: 127.0.0.1"
        assert await _refused(ports[3])
        # A deleted registry's port closes at the next look.
        del store.records["contoso"]
        await forwarder.follow(tasks)
        await anyio.sleep(0.1)  # the listener closes when its task sees the cancellation
        assert await _refused(ports[1])
        assert await _exchange(ports[2], b"still") == b"STILL"
        tasks.cancel_scope.cancel()


async def test_a_taken_port_is_retried_until_it_frees() -> None:
    ports = _free_ports(2)
    store = _Registries(RegistryRecord(2, "contoso", login_slot=1))
    forwarder = LoginServerForwarder(
        store,  # type: ignore[arg-type]
        LocalLoginServers("127.0.0.1", ports[1:]),
        bind="127.0.0.1",
        target=("127.0.0.1", ports[0]),
        default_registry="default",
    )
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", ports[1]))
    squatter.listen()
    async with anyio.create_task_group() as tasks:
        await forwarder.follow(tasks)  # logs a warning, does not fail
        squatter.close()
        await forwarder.follow(tasks)
        # Nothing listens at the target: the client's connection is closed, nothing breaks.
        assert await _exchange(ports[1], b"hello") == b""
        tasks.cancel_scope.cancel()
