"""The CLI's building blocks: greedy `--repository` options, image references, TLS trust."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trustme

from portside.cli.remote.arguments import join_greedy
from portside.cli.remote.client import CliError, ManagementClient
from portside.cli.remote.dataplane import ImageRef, parse_image


@pytest.mark.parametrize(
    ("args", "joined"),
    [
        (
            ["tok", "--repository", "hello", "content/read", "content/write", "-r", "reg"],
            ["tok", "--repository", "hello content/read content/write", "-r", "reg"],
        ),
        (
            ["--repository", "a", "content/read", "--repository", "b/*", "metadata/read"],
            ["--repository", "a content/read", "--repository", "b/* metadata/read"],
        ),
        (["--repository", "--status", "x"], ["--repository", "--status", "x"]),
        (["--", "--repository", "a", "b"], ["--", "--repository", "a", "b"]),
        (["--add-repository", "a", "content/read"], ["--add-repository", "a content/read"]),
    ],
)
def test_greedy_options_take_every_word_up_to_the_next_option(
    args: list[str], joined: list[str]
) -> None:
    assert join_greedy(args) == joined


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app", ImageRef("app")),
        ("team/app:v1", ImageRef("team/app", tag="v1")),
        ("localhost/team/app", ImageRef("localhost/team/app")),
        ("app@sha256:" + "a" * 64, ImageRef("app", digest="sha256:" + "a" * 64)),
    ],
)
def test_image_references(text: str, expected: ImageRef) -> None:
    assert parse_image(text) == expected


@pytest.mark.parametrize("text", ["", ":v1", "app:", "app@nodigest", "@sha256:" + "a" * 64])
def test_bad_image_references(text: str) -> None:
    with pytest.raises(CliError):
        parse_image(text)


def test_ca_certificate_is_trusted_for_the_servers_tls(tmp_path: Path) -> None:
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    client = ManagementClient(
        "https://registry.example:8443/",
        auth=("admin", "pw"),
        ca_cert=pem,
        transport=httpx.MockTransport(handler),
    )
    assert client.call("GET", "/registries") == []
    assert str(seen[0].url) == "https://registry.example:8443/api/v1/registries"
    assert seen[0].headers["authorization"].startswith("Basic ")
    client.close()
    for bad in (tmp_path / "missing.pem", tmp_path / "junk.pem"):
        (tmp_path / "junk.pem").write_text("not a certificate")
        with pytest.raises(CliError, match=r"cannot use .* as CA certificate"):
            ManagementClient("https://x", auth=("a", "b"), ca_cert=bad)


def test_unreachable_server_is_an_error_not_a_traceback() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ManagementClient(
        "http://127.0.0.1:1", auth=("a", "b"), transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(CliError, match=r"cannot reach http://127\.0\.0\.1:1"):
        client.call("GET", "/registries")
