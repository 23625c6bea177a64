"""The server's logging keeps URL-logging HTTP clients quiet at every level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from portside.cli.server.logging_setup import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put the root handlers and the touched loggers' levels back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("httpx", "httpcore", "azure", "aiosqlite", "alembic.runtime.plugins")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.parametrize("level", ["debug", "info"])
def test_http_clients_never_log_request_urls(level: str, restored_logging: None) -> None:
    configure_logging(level)
    secret_url = "https://hooks.example/deliver?sig=s3cr3t"
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO), secret_url
    assert not logging.getLogger("httpcore").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)


def test_alembic_plugins_do_not_announce_themselves_at_info(restored_logging: None) -> None:
    configure_logging("info")
    assert not logging.getLogger("alembic.runtime.plugins").isEnabledFor(logging.INFO)
