"""The loopback login servers: one listening port per registry, forwarded to the main port.

While the server listens on loopback only, each registry but the default has a login server
`127.0.0.1:PORT` of its own (services/access/hosts.py says why). The HTTP server listens on one
address, so this forwarder listens on the others: it follows the registries table (a new
registry's port opens within `interval` seconds, a deleted one's closes) and copies bytes both
ways between each accepted connection and the main port. Nothing is parsed; the Host header the
client sent (`127.0.0.1:5001`) reaches the server unchanged and names the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio.abc import ByteStream, Listener, SocketStream, TaskGroup

from portside.config import Settings
from portside.metadata.registries import RegistryStore
from portside.runtime.database import database_of
from portside.services.access.hosts import LocalLoginServers

__all__ = [
    "LoginServerForwarder",
    "forward_login_servers",
    "local_login_servers",
    "loopback_address",
]

log = logging.getLogger(__name__)

_CHUNK = 64 << 10


@dataclass
class _Listening:
    """One open login server: the registry it was opened for, and how to close it."""

    registry: str
    scope: anyio.CancelScope


class LoginServerForwarder:
    """Opens and closes the loopback login servers as registries come and go."""

    def __init__(
        self,
        store: RegistryStore,
        local: LocalLoginServers,
        *,
        bind: str,
        target: tuple[str, int],
        default_registry: str,
        interval: float = 0.5,
    ) -> None:
        """Listen on `bind` at the ports of `local`, forward to `target` (host, port)."""
        self._store = store
        self._local = local
        self._bind = bind
        self._target = target
        self._default = default_registry
        self._interval = interval
        self._open: dict[int, _Listening] = {}
        # Ports that could not be bound, logged once each until they open.
        self._refused: set[int] = set()

    async def run(self, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Follow the registries until `keep_going()` is false (or the task is cancelled)."""
        async with anyio.create_task_group() as tasks:
            while keep_going():
                try:
                    await self.follow(tasks)
                except Exception as error:  # a locked or unreachable database: try again
                    log.warning("cannot read the registries for their login servers: %s", error)
                await anyio.sleep(self._interval)
            tasks.cancel_scope.cancel()

    async def follow(self, tasks: TaskGroup) -> None:
        """Open the login servers of new registries and close those of deleted ones, once."""
        wanted: dict[int, str] = {}
        for record in await self._store.list():
            if record.name == self._default:
                continue
            if record.login_slot is None:
                # Registries made before login slots existed get theirs here.
                assigned = await self._store.assign_login_slot(record.name)
                if assigned is None:
                    continue
                record = assigned
            port = self._local.port(record.login_slot)
            if port is not None:
                wanted[port] = record.name
        for port, listening in list(self._open.items()):
            if wanted.get(port) != listening.registry:
                listening.scope.cancel()
                del self._open[port]
                log.info("login server %s:%d closed", self._local.address, port)
        for port, name in wanted.items():
            if port not in self._open:
                await self._listen(tasks, port, name)

    async def _listen(self, tasks: TaskGroup, port: int, registry: str) -> None:
        try:
            listener = await anyio.create_tcp_listener(local_host=self._bind, local_port=port)
        except OSError as error:
            if port not in self._refused:
                self._refused.add(port)
                log.warning(
                    "login server of registry %s: cannot listen on %s:%d (%s); retrying",
                    registry,
                    self._local.address,
                    port,
                    error.strerror or error,
                )
            return
        self._refused.discard(port)
        scope = anyio.CancelScope()
        self._open[port] = _Listening(registry, scope)
        tasks.start_soon(self._serve, listener, scope)
        log.info("login server of registry %s: %s:%d", registry, self._local.address, port)

    async def _serve(self, listener: Listener[SocketStream], scope: anyio.CancelScope) -> None:
        with scope:
            async with listener:
                await listener.serve(self._forward)

    async def _forward(self, client: SocketStream) -> None:
        """Copy bytes between `client` and a new connection to the main port, both ways."""
        # Whatever goes wrong with one connection stays with it: an exception here would end
        # the listener's task group, and with it every other connection.
        try:
            async with client:
                host, port = self._target
                try:
                    upstream = await anyio.connect_tcp(host, port)
                except OSError as error:
                    log.warning("login server: cannot reach %s:%d: %s", host, port, error)
                    return
                async with upstream, anyio.create_task_group() as pipes:
                    pipes.start_soon(_pipe, client, upstream, pipes)
                    pipes.start_soon(_pipe, upstream, client, pipes)
        except Exception as error:
            log.debug("login server connection ended: %r", error)


async def _pipe(source: ByteStream, sink: ByteStream, pipes: TaskGroup) -> None:
    """Copy `source` to `sink` until its end, then half-close `sink` (HTTP clients may close
    their sending side and still read the answer); on a broken stream, end both directions."""
    try:
        while True:
            try:
                chunk = await source.receive(_CHUNK)
            except anyio.EndOfStream:
                break
            await sink.send(chunk)
        await sink.send_eof()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pipes.cancel_scope.cancel()


async def forward_login_servers(settings: Settings, keep_going: Callable[[], bool]) -> None:
    """The forwarder process's work (cli/server/login_servers.py): follow the registries and
    forward their login servers until `keep_going()` is false; nothing off loopback.

    Built from the two parts it needs, the database and the registries' store, not from a
    `Runtime`: this process imports neither the services nor the HTTP layer (measured, idle:
    82 -> 60 MiB resident, PSS 59 -> 44 MiB; what is left is the settings' pydantic and
    SQLAlchemy).
    """
    local = local_login_servers(settings)
    if local is None:
        return
    database = database_of(settings)
    try:
        forwarder = LoginServerForwarder(
            RegistryStore(database),
            local,
            bind=loopback_address(settings),
            target=(settings.host, settings.port),
            default_registry=settings.default_registry,
        )
        await forwarder.run(keep_going)
    finally:
        await database.close()


def local_login_servers(settings: Settings) -> LocalLoginServers | None:
    """Loopback login servers on the address the server listens on (as a Host names it)."""
    ports = settings.local_login_port_range()
    if ports is None:
        return None
    host = loopback_address(settings)
    return LocalLoginServers(f"[{host}]" if ":" in host else host, ports)


def loopback_address(settings: Settings) -> str:
    """The address the server listens on, `localhost` spelled as the address it binds."""
    return "127.0.0.1" if settings.host == "localhost" else settings.host
