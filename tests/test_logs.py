"""Background jobs log an outage as one line and anything else with its traceback."""

from __future__ import annotations

import logging

import pytest

from portside.logs import job_failed
from portside.metadata.errors import DatabaseUnavailable

log = logging.getLogger("portside.tests.jobs")


def test_a_lost_database_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=log.name):
        try:
            raise DatabaseUnavailable("connection refused")
        except DatabaseUnavailable:
            job_failed(log, "sweeping %s failed; will retry", "uploads")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.getMessage() == (
        "sweeping uploads failed; will retry: the metadata database is unavailable:"
        " connection refused"
    )


def test_a_bug_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=log.name):
        try:
            raise KeyError("digest")
        except KeyError:
            job_failed(log, "garbage collection failed; will retry")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is KeyError
