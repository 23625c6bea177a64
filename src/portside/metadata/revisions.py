"""Is an SQLite database already at the newest schema? Answered without Alembic.

`portside serve` checks the schema before every start, and the embedded default's database is
almost always current. Alembic (its import and its script directory) costs the serving process
about a fifth of a second of CPU before the first answer; this check reads the revision ids from
the migration scripts' `revision =` / `down_revision =` lines and the database's
`alembic_version` row with the standard library, and `runtime.migrate` runs Alembic only when
they differ (or anything here is unsure: then Alembic decides, as before).
tests/metadata/test_revisions.py holds the newest id found here equal to Alembic's head.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["script_head", "sqlite_is_current"]

_VERSIONS = Path(__file__).with_name("migrations") / "versions"
_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision\s*=\s*(?:"([^"]+)"|None)', re.MULTILINE)


def script_head(versions: Path = _VERSIONS) -> str | None:
    """The one revision no other script revises, or None if that is not exactly one."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None  # a script written differently: leave the answer to Alembic
        revisions.add(revision.group(1))
        if down.group(1) is not None:
            revised.add(down.group(1))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def sqlite_is_current(url: str) -> bool:
    """True if `url` is an SQLite file whose recorded revision is the scripts' head."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return False
    if not Path(path).is_file():
        return False
    head = script_head()
    if head is None:
        return False
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return rows == [(head,)]
