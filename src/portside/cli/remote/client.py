"""The CLI's side of the management API: connection options, the HTTP client, output.

Every management command takes the same options (or their environment variables):
`--server` (PORTSIDE_SERVER), `--admin-password` (PORTSIDE_ADMIN_PASSWORD) or
`--username`/`--password` of a service principal (PORTSIDE_USERNAME, PORTSIDE_PASSWORD),
`--ca-cert` (PORTSIDE_CA_CERT) and `--output/-o table|json`. Failures print the server's
message on stderr and exit with status 1.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
from rich.console import Console
from rich.table import Table

__all__ = [
    "API_PREFIX",
    "CliEnvironment",
    "CliError",
    "Column",
    "ManagementClient",
    "connection_options",
    "emit",
    "emit_generated",
    "emit_record",
    "emit_secrets",
    "emit_with_secrets",
    "management_client",
    "output_format",
]

API_PREFIX = "/api/v1"
"""Where the management API is mounted on the server."""

DEFAULT_SERVER = "http://127.0.0.1:5000"
_META = "portside.connection"
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_PIPE_WIDTH = 200
_WHOLE = frozenset({"Digest", "Id", "Assignee"})
"""Table columns whose values are identifiers, kept on one line."""
F = TypeVar("F", bound=Callable[..., Any])

Column = tuple[str, str | Callable[[Any], object]]
"""A table column: its header, and the key of the value in each item or a getter."""


class CliError(click.ClickException):
    """A failure reported as `Error: <message>` on stderr, exit status 1."""


@dataclass(frozen=True, slots=True)
class CliEnvironment:
    """What a caller of the CLI may inject (`cli.main(obj=CliEnvironment(...))`): tests pass
    a transport that routes requests into an in-process app."""

    transport: httpx.BaseTransport | None = None


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    """Store a connection option where `management_client` finds it."""
    ctx.meta.setdefault(_META, {})[param.name] = value
    return value


def connection_options(command: F) -> F:
    """Add the connection and output options to a command (not passed to the function)."""
    options = (
        _option(
            "--server",
            envvar="PORTSIDE_SERVER",
            default=DEFAULT_SERVER,
            show_default=True,
            help="Portside server URL [env PORTSIDE_SERVER].",
        ),
        _option(
            "--admin-password",
            envvar="PORTSIDE_ADMIN_PASSWORD",
            help="Deployment administrator's password [env PORTSIDE_ADMIN_PASSWORD].",
        ),
        _option(
            "--username",
            envvar="PORTSIDE_USERNAME",
            help="Service principal id (instead of the administrator) [env PORTSIDE_USERNAME].",
        ),
        _option(
            "--password",
            envvar="PORTSIDE_PASSWORD",
            help="Service principal secret [env PORTSIDE_PASSWORD].",
        ),
        _option(
            "--ca-cert",
            envvar="PORTSIDE_CA_CERT",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Verify the server's TLS certificate with this CA [env PORTSIDE_CA_CERT].",
        ),
        _option(
            "--output",
            "-o",
            type=click.Choice(["table", "json"]),
            default="table",
            show_default=True,
            help="Human tables, or JSON for scripts.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _option(*declarations: str, **attributes: Any) -> Callable[[F], F]:
    """A connection option: remembered in the context, not passed to the command."""
    return click.option(*declarations, expose_value=False, callback=_remember, **attributes)


def _settings(ctx: click.Context) -> dict[str, Any]:
    found = ctx.meta.get(_META)
    return found if isinstance(found, dict) else {}


def output_format(ctx: click.Context) -> str:
    """`table` or `json`, as the command's `--output` says."""
    return str(_settings(ctx).get("output") or "table")


class ManagementClient:
    """Calls the server: the management API under /api/v1, and raw requests (data plane)."""

    def __init__(
        self,
        server: str,
        *,
        auth: tuple[str, str],
        ca_cert: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Connect to `server` with Basic `auth`; `ca_cert` verifies its TLS certificate."""
        verify: ssl.SSLContext | bool = True
        if ca_cert is not None:
            try:
                verify = ssl.create_default_context(cafile=str(ca_cert))
            except (OSError, ssl.SSLError) as error:
                raise CliError(f"cannot use {ca_cert} as CA certificate: {error}") from None
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server, verify=verify, transport=transport, timeout=_TIMEOUT
        )
        self._auth = auth

    def call(
        self, method: str, path: str, body: object = None, params: dict[str, str] | None = None
    ) -> Any:
        """A management API call: the decoded JSON answer (None for 204); CliError on failure."""
        response = self.send(method, API_PREFIX + path, json=body, params=params, auth=self._auth)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A raw request; CliError on a connection failure or an error answer."""
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise CliError(f"cannot reach {self.server}: {error}") from None
        if response.status_code >= 400:
            raise CliError(_error_message(response))
        return response

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _error_message(response: httpx.Response) -> str:
    """The server's message in an error answer (management, OCI or OAuth shapes)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("code"))
        if isinstance(error, str):
            return str(body.get("error_description") or error)
    text = response.text.strip()[:200]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def management_client(ctx: click.Context) -> ManagementClient:
    """A client for this command's connection options (closed when the command ends)."""
    settings = _settings(ctx)
    username, password = settings.get("username"), settings.get("password")
    if username:
        if not password:
            raise CliError("--username needs --password (or PORTSIDE_PASSWORD)")
        auth = (str(username), str(password))
    elif settings.get("admin_password"):
        auth = ("admin", str(settings["admin_password"]))
    else:
        raise CliError(
            "no credentials: give --admin-password (or PORTSIDE_ADMIN_PASSWORD), or "
            "--username and --password of a service principal"
        )
    environment = ctx.find_object(CliEnvironment)
    client = ManagementClient(
        str(settings.get("server") or DEFAULT_SERVER),
        auth=auth,
        ca_cert=settings.get("ca_cert"),
        transport=environment.transport if environment else None,
    )
    ctx.call_on_close(client.close)
    return client


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(_cell(item) for item in value)
    return str(value)


def _console() -> Console:
    """Rich's console; when output is not a terminal (a pipe, a file), wide enough that
    tables are not squeezed into 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=_PIPE_WIDTH)


def _table(*headers: str, show_header: bool = True) -> Table:
    """A table whose cells wrap rather than being cut with an ellipsis; digests and ids
    never wrap (the other columns give way), so they can be copied and searched whole."""
    table = Table(show_header=show_header)
    for header in headers:
        table.add_column(header, overflow="fold", no_wrap=header in _WHOLE)
    return table


def emit(ctx: click.Context, data: Any, columns: Sequence[Column]) -> None:
    """Print a list: JSON as received, or a table with `columns`."""
    if output_format(ctx) == "json":
        click.echo(json.dumps(data, indent=2))
        return
    table = _table(*(header for header, _ in columns))
    for item in data:
        table.add_row(*(_cell(_value(item, source)) for _, source in columns))
    _console().print(table)


def _value(item: Any, source: str | Callable[[Any], object]) -> object:
    return item.get(source) if isinstance(source, str) else source(item)


def emit_record(ctx: click.Context, data: Any, fields: Sequence[tuple[str, str]]) -> None:
    """Print one object: JSON as received, or a two-column table of `fields` (label, key)."""
    if output_format(ctx) == "json":
        click.echo(json.dumps(data, indent=2))
        return
    table = _table("Field", "Value", show_header=False)
    for label, key in fields:
        table.add_row(label, _cell(data.get(key)))
    _console().print(table)


def emit_generated(ctx: click.Context, data: Any, secrets: Sequence[dict[str, Any]]) -> None:
    """Print what a call that generates secrets answered: `data` as JSON, or the values of
    `secrets` (see `emit_secrets`)."""
    if output_format(ctx) == "json":
        click.echo(json.dumps(data, indent=2))
        return
    emit_secrets(ctx, secrets)


def emit_with_secrets(
    ctx: click.Context,
    data: Any,
    fields: Sequence[tuple[str, str]],
    secrets: Sequence[dict[str, Any]],
    columns: Sequence[Column],
) -> None:
    """Print an object that holds secrets: JSON as received, or its `fields`, a table of its
    `secrets` (names and times, with `columns`) and the values generated just now."""
    emit_record(ctx, data, fields)
    if output_format(ctx) == "table":
        emit(ctx, secrets, columns)
        emit_secrets(ctx, secrets)


def emit_secrets(ctx: click.Context, secrets: Sequence[dict[str, Any]]) -> None:
    """In table output, print generated secret values (with a note that they are shown once)."""
    shown = [s for s in secrets if s.get("value")]
    if output_format(ctx) == "json" or not shown:
        return
    # Plain lines, not a table: a value must never be wrapped or cut, so it can be copied.
    for secret in shown:
        expiry = f"  (expires {secret['expiry']})" if secret.get("expiry") else ""
        click.echo(f"{secret['name']}: {secret['value']}{expiry}")
    click.echo("Store these values now: they are not shown again.", err=True)
