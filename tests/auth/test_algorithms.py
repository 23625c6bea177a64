"""The signature algorithms have one home (auth.algorithms); the one other spelling must agree."""

from __future__ import annotations

from typing import get_args

from portside.auth.algorithms import ALGORITHMS, FEDERATED_ALGORITHMS
from portside.config import Settings


def test_own_algorithms_are_asymmetric_and_acceptable_from_issuers() -> None:
    assert ALGORITHMS == ("ES256", "RS256")
    assert set(ALGORITHMS) <= FEDERATED_ALGORITHMS
    assert not any(name.startswith("HS") for name in FEDERATED_ALGORITHMS)


def test_settings_offer_exactly_the_own_algorithms() -> None:
    # config.py spells the choice out: storage imports the settings, and storage may not
    # import auth, not even through config.
    annotation = Settings.model_fields["signing_algorithm"].annotation
    assert get_args(annotation) == ALGORITHMS
