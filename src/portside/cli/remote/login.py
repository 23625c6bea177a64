"""`portside login -n REGISTRY`: sign Docker in to a registry, as `az acr login` does.

The server issues a refresh token for the caller in that registry; it is written to Docker's
configuration (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`) as the password
of the null-GUID user, the entry `docker login -u 00000000-0000-0000-0000-000000000000 -p
<token>` would write. Other entries are kept. `--expose-token` prints the token instead.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from portside.cli.remote.client import (
    CliError,
    connection_options,
    management_client,
    output_format,
)
from portside.cli.remote.options import registry_name_option

__all__ = ["NULL_GUID", "login", "write_docker_auth"]

NULL_GUID = "00000000-0000-0000-0000-000000000000"
"""The user name that tells a registry the password is a refresh token."""


def write_docker_auth(config_dir: Path, server: str, username: str, password: str) -> Path:
    """Set the `auths` entry of `server` in Docker's config.json (atomically, mode 0600),
    keeping every other entry; returns the file's path."""
    path = config_dir / "config.json"
    config: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError) as error:
            raise CliError(f"cannot read {path}: {error}") from None
        if not isinstance(loaded, dict):
            raise CliError(f"{path} does not hold a JSON object")
        config = loaded
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = config["auths"] = {}
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    auths[server] = {"auth": token}
    config_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=config_dir, prefix=".config.json.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(config, file, indent="\t")
            file.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if config.get("credsStore") or server in (config.get("credHelpers") or {}):
        click.echo(
            f"Warning: {path} names a credential store; Docker asks it, not this entry. "
            "Run `docker login` with the token from --expose-token instead.",
            err=True,
        )
    return path


@click.command()
@registry_name_option
@click.option("--expose-token", "-t", is_flag=True, help="Print the token; write nothing.")
@click.option(
    "--docker-config",
    envvar="DOCKER_CONFIG",
    type=click.Path(file_okay=False, path_type=Path),
    help="Docker's configuration folder [env DOCKER_CONFIG; default ~/.docker].",
)
@connection_options
@click.pass_context
def login(
    ctx: click.Context, registry_name: str, expose_token: bool, docker_config: Path | None
) -> None:
    """Log Docker in to registry NAME with a refresh token (valid for a few hours)."""
    result = management_client(ctx).call("POST", f"/registries/{registry_name}/login")
    server, token = result["loginServer"], result["refreshToken"]
    if expose_token:
        click.echo(json.dumps({"accessToken": token, "loginServer": server}, indent=2))
        return
    folder = docker_config or Path.home() / ".docker"
    path = write_docker_auth(folder, server, NULL_GUID, token)
    if output_format(ctx) == "json":
        click.echo(json.dumps({"loginServer": server, "dockerConfig": str(path)}, indent=2))
    else:
        click.echo(f"Login Succeeded: {server} (in {path})")
        # The login server is the image reference's first part; say so, as it may be an
        # address (127.0.0.1:5001) rather than a name.
        click.echo(f"Push with: docker push {server}/REPOSITORY:TAG", err=True)
