"""Is an SQLite database already at the newest schema? Answered without Alembic.

`portside serve` checks the schema before every start, and the embedded default's database is
almost always current. Alembic (its import and its script directory) costs the serving process
about a fifth of a second of CPU before the first answer; this check reads the revision ids from
the migration scripts' `revision =` / `down_revision =` lines and the database's
`alembic_version` row with the standard library, and `runtime.migrate` runs Alembic only when
they differ (or anything here is unsure: then Alembic decides, as before).
tests/metadata/test_revisions.py holds the newest id found here equal to Alembic's head.

Nothing here imports SQLAlchemy or Alembic: `sqlite_ready` tells `portside serve` that it has
nothing to do in the database before its workers start (no migration, no password to
generate), without an engine, an event loop or a runtime (cli/server/serve.py says why).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

__all__ = ["script_head", "sqlite_admin_password_stored", "sqlite_is_current", "sqlite_ready"]

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
    head = script_head()
    if head is None:
        return False
    rows = _read(url, "SELECT version_num FROM alembic_version", ())
    return rows == [(head,)]


def sqlite_admin_password_stored(url: str) -> bool:
    """True if `url` is an SQLite file holding the deployment administrator's generated
    password (what services/management/admin.py's `DeploymentAdmin.ensure` stores)."""
    query = "SELECT 1 FROM credentials WHERE owner_type = ? AND owner_id = ? LIMIT 1"
    return bool(_read(url, query, ("deployment", "admin")))


def sqlite_ready(url: str, *, configured_admin_password: bool) -> bool:
    """True if the serving process has nothing to do in this database before its workers
    start: the schema is current and the administrator has a password (configured, or
    stored), so no migration runs and no password is generated to print."""
    if not sqlite_is_current(url):
        return False
    return configured_admin_password or sqlite_admin_password_stored(url)


def _sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (`sqlite[+driver]:///path`), or None for any other URL or
    one spelled in a way this does not read (then the caller does the full check)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+")[0] != "sqlite" or not rest.startswith("/"):
        return None
    path = rest[1:]
    if not path or path == ":memory:" or any(c in path for c in "?%#"):
        return None
    return Path(path)


def _read(url: str, query: str, params: tuple[str, ...]) -> list[tuple[object, ...]] | None:
    """The rows of `query` on the existing SQLite file of `url`, read only; None if `url` is
    not one or the query fails."""
    path = _sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
