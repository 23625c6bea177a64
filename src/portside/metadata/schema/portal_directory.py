"""Tables of the portal's directory (OIDC) sign-in: the pending sign-ins, and who a directory
session is.

portal_signin_states       (one per sign-in started: state, nonce, PKCE verifier; single use)
portal_sessions ─ portal_directory_sessions   (the issuer and groups of a directory session)
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["portal_directory_sessions", "portal_signin_states"]

portal_signin_states = Table(
    "portal_signin_states",
    metadata,
    # SHA-256 of the pre-session cookie's random value: the browser that started the sign-in
    # is the one that may finish it, and a read of this table finishes none.
    Column("id", String(64), primary_key=True),
    # The trusted issuer's `iss`: the ID token must come from this one and no other.
    Column("issuer", String(255), nullable=False),
    Column("state", String(64), nullable=False),
    Column("nonce", String(64), nullable=False),
    # The PKCE code verifier (RFC 7636): sent only to the token endpoint, with the code.
    Column("verifier", String(128), nullable=False),
    Column("next", String(2048), nullable=False, server_default=""),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_portal_signin_states_expires_at", "expires_at"),
)

portal_directory_sessions = Table(
    "portal_directory_sessions",
    metadata,
    Column(
        "session_id",
        ForeignKey("portal_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The issuer and groups the ID token named: the role assignments they match are the
    # grant, as for /oauth2/exchange (the subject is the session's own).
    Column("issuer", String(255), nullable=False),
    Column("groups", Text, nullable=False, server_default="[]"),
)
