"""booktransfer.compliance.model: the gate's settings read from the DAG's params."""

from __future__ import annotations

from datetime import date

import pytest

from booktransfer.compliance.model import ComplianceSettings, LegalRoute, Mechanism
from booktransfer.errors import SettingsError


def test_settings_from_a_full_conf():
    """Route, assessment, destinations, purposes, re-consent file and dry run as the rules need them."""
    s = ComplianceSettings.from_params({
        "legal_route": "STATUTORY_ART92", "pipia_reference": " PIPIA-9 ", "pipia_approved_on": "2026-01-31",
        "cross_border_destinations": [{"jurisdiction": "hk", "recipient": "Group", "mechanism": "CERTIFICATION",
                                       "reference": "CERT-1"}],
        "buyer_purposes": ["SERVICING"], "reconsent_file": "var/reconsent.csv", "dry_run": True,
        "as_of_date": "2026-02-01"})
    assert s.legal_route is LegalRoute.STATUTORY_ART92 and s.pipia_reference == "PIPIA-9"
    assert s.pipia_approved_on == date(2026, 1, 31) and s.as_of == date(2026, 2, 1)
    [d] = s.destinations
    assert (d.jurisdiction, d.mechanism, d.reference, d.mainland) == ("HK", Mechanism.CERTIFICATION, "CERT-1", False)
    assert s.reconsent_file_given and s.dry_run and s.buyer_purposes == ("SERVICING",)


def test_an_old_conf_takes_the_defaults():
    """A conf from before the Compliance section: Art. 22, no assessment (the gate then says so), no destination."""
    s = ComplianceSettings.from_params({"transfer_id": "t"})
    assert s.legal_route is LegalRoute.ART22_NOTICE and s.pipia_reference == "" and s.pipia_approved_on is None
    assert s.destinations == () and not s.reconsent_file_given


@pytest.mark.parametrize(("params", "named"), [
    ({"legal_route": "ART99"}, "legal_route"),
    ({"pipia_approved_on": "01/03/2026"}, "pipia_approved_on"),
    ({"cross_border_destinations": [{"jurisdiction": "HK", "recipient": "G", "mechanism": "HANDSHAKE"}]},
     "cross_border_destinations[0].mechanism"),
    ({"cross_border_destinations": [{"jurisdiction": "HK"}]}, "cross_border_destinations[0]"),
    ({"cross_border_destinations": ["HK"]}, "cross_border_destinations[0]"),
])
def test_unreadable_settings_name_the_setting(params, named):
    """What the form would have refused is refused here too, naming the setting."""
    with pytest.raises(SettingsError, match=named.replace("[", r"\[").replace("]", r"\]")):
        ComplianceSettings.from_params(params)
