"""Running `portside` commands against the in-process management app."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from click.testing import CliRunner, Result

from portside.cli.main import cli
from portside.cli.remote.client import CliEnvironment
from tests.management_harness import Harness

__all__ = ["CliHarness", "invoke"]


def invoke(
    transport: httpx.BaseTransport,
    *args: str,
    env: dict[str, str | None] | None = None,
    input: str | None = None,
) -> Result:
    """Run `portside ARGS` with its HTTP requests sent to `transport`."""
    return CliRunner().invoke(
        cli,
        list(args),
        input=input,
        obj=CliEnvironment(transport=transport),
        env=env,
        catch_exceptions=False,
    )


@dataclass
class CliHarness:
    """The CLI wired to a management harness, signed in as the administrator by default."""

    harness: Harness

    def __call__(
        self, *args: str, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        """Run `portside ARGS`; PORTSIDE_ADMIN_PASSWORD is set unless `env` overrides it."""
        environment: dict[str, str | None] = {
            "PORTSIDE_ADMIN_PASSWORD": self.harness.admin_password,
            "PORTSIDE_USERNAME": None,
            "PORTSIDE_PASSWORD": None,
            "PORTSIDE_SERVER": None,
            "PORTSIDE_CA_CERT": None,
            **(env or {}),
        }
        return invoke(self.harness.transport(), *args, env=environment, input=input)
