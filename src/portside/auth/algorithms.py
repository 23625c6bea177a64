"""The JWT signature algorithms Portside signs with, and those it accepts from trusted issuers.

One home for both lists: the settings, the signing keys, the token service, the management API's
key rotation and the federation verifier all read them from here. Asymmetric algorithms only:
an HMAC "key" from a JWKS would be a published secret.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ALGORITHMS", "FEDERATED_ALGORITHMS", "Algorithm"]

Algorithm = Literal["ES256", "RS256"]
"""A signature algorithm of Portside's own tokens (ES256: EC P-256; RS256: RSA 2048)."""

ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)
"""Signature algorithms Portside issues and accepts for its own tokens."""

FEDERATED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Signature algorithms a trusted issuer may be configured to use."""
