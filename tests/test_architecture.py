"""House rules that are checked, not hoped for (layer contracts: import-linter, pyproject)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "portside"
MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


AIM_LINES = 400
"""Modules aim at this size; above it the test of the module is skipped with a note."""
MAX_LINES = 600
"""Above this a module fails the test."""


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_readable_in_one_sitting(path: Path) -> None:
    """Fail above MAX_LINES; above AIM_LINES, skip with the count, so that the module shows
    in every run's summary (`-ra`) as a warning would: warnings are errors in this suite, and
    a module a little long is a prompt to split by concept when one appears, not a failure."""
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{lines} lines: split it by concept"
    if lines > AIM_LINES:
        pytest.skip(f"{path.relative_to(SRC)}: {lines} lines, over the {AIM_LINES}-line aim")


def test_no_grab_bag_modules() -> None:
    names = {p.stem for p in MODULES}
    assert not names & {"utils", "helpers", "common", "misc"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_public_functions_and_classes_have_docstrings(path: Path) -> None:
    tree = ast.parse(path.read_text())
    missing = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
        and ast.get_docstring(node) is None
    ]
    assert missing == []


def test_environment_is_read_only_in_the_settings_module() -> None:
    readers = [
        str(p.relative_to(SRC))
        for p in MODULES
        if "os.environ" in p.read_text() or "os.getenv" in p.read_text()
    ]
    assert readers == ["config.py"]


def test_the_cli_starts_without_the_server_stack() -> None:
    """`portside` loads the composition root (and SQLAlchemy, Starlette, the object-store
    SDKs) only inside a server command, never to start."""
    heavy = ("sqlalchemy", "starlette", "botocore", "azure", "portside.runtime", "portside.api")
    code = (
        "import sys, portside.cli.main\n"
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
