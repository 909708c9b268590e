"""booktransfer.consent.purposes: the buyer may declare only what the seller's consents permit, or re-consented."""

from __future__ import annotations

import pytest

from booktransfer.consent.purposes import check_buyer_purposes, permitted_purposes, purpose_order
from booktransfer.errors import BookTransferError, PurposeNotPermitted

SELLER = permitted_purposes(["MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA", "CROSS_BORDER"])


def test_seller_purposes_and_servicing_pass():
    """Continuing every original purpose is allowed (PIPL Art. 22: the recipient continues them)."""
    check_buyer_purposes(["SERVICING", "MARKETING", "CROSS_BORDER"], SELLER, frozenset())


def test_a_new_purpose_fails_and_names_it():
    """A purpose the seller never asked consent for stops the run, naming it (not any person)."""
    with pytest.raises(PurposeNotPermitted, match="CROSS_SELL_HEALTH") as caught:
        check_buyer_purposes(["SERVICING", "CROSS_SELL_HEALTH"], SELLER, frozenset())
    assert isinstance(caught.value, BookTransferError)
    assert "re-consent" in str(caught.value)


def test_a_new_purpose_with_recorded_reconsent_passes():
    """Re-consent recorded for the new purpose lets the run go on."""
    check_buyer_purposes(["CROSS_SELL_HEALTH"], SELLER, frozenset({"CROSS_SELL_HEALTH"}))


def test_purpose_order_puts_servicing_first():
    """The consent table carries servicing, then every other purpose once, alphabetically."""
    assert purpose_order(SELLER, frozenset({"NEW"}), ["MARKETING"]) == [
        "SERVICING", "CROSS_BORDER", "MARKETING", "NEW", "SENSITIVE_DATA", "THIRD_PARTY_SHARING"]
