"""booktransfer.compliance.gate: the facts from the mapping and the re-consent file, the record, the verdict."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from booktransfer.compliance.gate import check_settings, gate_facts, run_day, run_gate
from booktransfer.errors import ComplianceGateFailed, RequestFileError
from booktransfer.load.settings import TransferSettings
from booktransfer.pipeline import RunContext, project_home

RUN = date(2026, 7, 1)
GOOD = {"transfer_id": "t1", "mapping_set": "example_seller", "pipia_reference": "PIPIA-2026-014",
        "pipia_approved_on": "2026-03-01", "buyer_purposes": ["SERVICING", "MARKETING"]}
RECONSENT_HEADER = "event_no,customer_no,purpose,action,event_time,channel,evidence_ref\n"


def ctx(tmp_path, **settings) -> RunContext:
    return RunContext("t1", "manual__1", "example_seller", "sqlite://", home=project_home(), staging_root=tmp_path,
                      settings=TransferSettings(**settings))


def test_the_sellers_purposes_come_from_the_mapping_and_reconsent_from_its_file(tmp_path):
    """Permitted: SERVICING + the example mapping's consent purposes; re-consented: the file's purposes."""
    reconsent = tmp_path / "reconsent.csv"
    reconsent.write_text(RECONSENT_HEADER + "R1,C000001,CROSS_SELL,GRANTED,2026-05-01 10:00:00,APP,EV-1\n",
                         encoding="utf-8")
    facts = gate_facts(ctx(tmp_path, reconsent_file=reconsent), RUN)
    assert facts.permitted_purposes == {"SERVICING", "MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA",
                                        "CROSS_BORDER"}
    assert facts.reconsented_purposes == {"CROSS_SELL"}


def test_an_unreadable_reconsent_file_stops_the_gate(tmp_path):
    """A re-consent file that cannot be read is the file's error, naming it."""
    with pytest.raises(RequestFileError, match="not found"):
        gate_facts(ctx(tmp_path, reconsent_file=tmp_path / "nope.csv"), RUN)


def test_a_passing_gate_records_the_settings_and_the_verdict(tmp_path):
    """settings.json holds the form's values; compliance.json the verdict and what it was checked against."""
    c = ctx(tmp_path)
    result = run_gate(c, GOOD, RUN)
    assert result == {"stage": "compliance_gate", "verdict": "PASS", "legal_route": "ART22_NOTICE",
                      "pipia_valid_until": "2027-03-01", "destinations": 0}
    assert json.loads((c.run_dir / "settings.json").read_text())["params"] == GOOD
    record = json.loads((c.run_dir / "compliance.json").read_text())
    assert record["verdict"] == "PASS" and record["run_date"] == "2026-07-01" and record["findings"] == []
    assert record["pipia"] == {"reference": "PIPIA-2026-014", "approved_on": "2026-03-01"}


def test_a_failing_gate_records_why_and_raises_with_every_finding(tmp_path):
    """The refused run leaves its reasons on record; the error lists them (what the alert carries)."""
    c = ctx(tmp_path)
    bad = {**GOOD, "pipia_reference": "", "buyer_purposes": ["SERVICING", "CROSS_SELL"],
           "cross_border_destinations": [{"jurisdiction": "SG", "recipient": "Buyer Analytics Pte Ltd"}]}
    with pytest.raises(ComplianceGateFailed) as caught:
        run_gate(c, bad, RUN)
    message = str(caught.value)
    for code in ("PIPIA_MISSING", "PURPOSE_NOT_PERMITTED", "CROSS_BORDER_NO_MECHANISM", "CROSS_BORDER_NOT_DECLARED"):
        assert code in message
    record = json.loads((c.run_dir / "compliance.json").read_text())
    assert record["verdict"] == "FAIL" and len(record["findings"]) == 4
    assert record["destinations"][0]["mainland"] is False


def test_check_settings_reads_relative_files_from_the_project(tmp_path):
    """The CLI's --check: the same verdict, without writing a record."""
    assert check_settings(GOOD, RUN).ok
    assert not check_settings({**GOOD, "pipia_approved_on": "2025-01-01"}, RUN).ok


def test_the_run_day_is_beijings():
    """23:30 UTC on 30 June is already 1 July in Beijing."""
    assert run_day(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == RUN
    assert run_day(datetime(2026, 6, 30, 15, 0, tzinfo=UTC) + timedelta(hours=1)) == RUN
