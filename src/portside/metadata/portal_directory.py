"""The portal's directory sign-in: pending sign-ins (state, nonce, PKCE verifier), taken once,
and the issuer and groups of directory sessions.

A pending sign-in is found by the SHA-256 of the pre-session cookie of the browser that started
it; `take` deletes it in the same transaction that reads it, so a state is used at most once
whatever happens next (a replayed callback, a second node). Expired ones are never returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.portal_sessions import PortalSessionRecord
from portside.metadata.schema import (
    portal_directory_sessions,
    portal_sessions,
    portal_signin_states,
    role_assignments,
)

__all__ = ["DirectorySessionRecord", "PendingSignIn", "PortalDirectoryStore"]


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A sign-in sent to an issuer and not back yet."""

    id: str
    issuer: str
    state: str
    nonce: str
    verifier: str
    next: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DirectorySessionRecord:
    """What a directory session adds to its portal session: the issuer and the groups."""

    issuer: str
    groups: tuple[str, ...]


class PortalDirectoryStore:
    """Pending sign-ins and directory sessions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self, pending: PendingSignIn) -> None:
        """Keep a pending sign-in (removing those that expired)."""
        async with self._db.write() as conn:
            await conn.execute(
                delete(portal_signin_states).where(portal_signin_states.c.expires_at <= utcnow())
            )
            await conn.execute(
                insert(portal_signin_states).values(
                    id=pending.id,
                    issuer=pending.issuer,
                    state=pending.state,
                    nonce=pending.nonce,
                    verifier=pending.verifier,
                    next=pending.next,
                    expires_at=pending.expires_at,
                )
            )

    async def take(self, pending_id: str) -> PendingSignIn | None:
        """The pending sign-in with this id, removed as it is read; None if there is none or
        it has expired."""
        table = portal_signin_states
        async with self._db.write() as conn:
            row = (await conn.execute(select(table).where(table.c.id == pending_id))).first()
            if row is None:
                return None
            deleted = await conn.execute(delete(table).where(table.c.id == pending_id))
        # Two callbacks racing on one state: only the one whose delete removed the row wins.
        if not deleted.rowcount or row.expires_at <= utcnow():
            return None
        return PendingSignIn(
            row.id, row.issuer, row.state, row.nonce, row.verifier, row.next, row.expires_at
        )

    async def open(
        self, session: PortalSessionRecord, issuer: str, groups: tuple[str, ...]
    ) -> None:
        """Store a directory session: its portal session row and its issuer and groups."""
        async with self._db.write() as conn:
            await conn.execute(
                insert(portal_sessions).values(
                    id=session.id,
                    kind=session.kind,
                    subject=session.subject,
                    registry_id=session.registry_id,
                    secret=session.secret,
                    csrf=session.csrf,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                )
            )
            await conn.execute(
                insert(portal_directory_sessions).values(
                    session_id=session.id, issuer=issuer, groups=json.dumps(list(groups))
                )
            )

    async def session(self, session_id: str) -> DirectorySessionRecord | None:
        """The issuer and groups of a directory session; None if it is not one."""
        table = portal_directory_sessions
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(table).where(table.c.session_id == session_id))
            ).first()
        if row is None:
            return None
        groups = json.loads(row.groups)
        return DirectorySessionRecord(row.issuer, tuple(str(group) for group in groups))

    async def has_roles(self, issuer: str, subject: str, groups: tuple[str, ...]) -> bool:
        """True if any registry assigns a role to this subject or one of these groups of
        `issuer` (the match /oauth2/exchange's grants use: issuer and name together)."""
        table = role_assignments
        named = [and_(table.c.principal_type == "subject", table.c.principal == subject)]
        named += [
            and_(table.c.principal_type == "group", table.c.principal == group) for group in groups
        ]
        query = select(table.c.id).where(and_(table.c.issuer == issuer, or_(*named))).limit(1)
        async with self._db.read() as conn:
            return (await conn.execute(query)).first() is not None
