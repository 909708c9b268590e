"""The trigger form: every setting titled, described, validated and grouped; nothing secret or personal in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["Transfer", "Source", "Target", "Parties", "Compliance", "Consent, requests and notices", "Alerts"]
SECRET_NAMES = re.compile(r"pass(word|phrase)?|secret|token|credential|private|api_?key|(^|_)key($|_)|pwd", re.I)
PERSONAL = {
    "mainland mobile": re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
    "ID number": re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)|(?<!\d)\d{15}(?!\d)"),
    "card number": re.compile(r"(?<!\d)\d{16,19}(?!\d)"),
    "personal e-mail": re.compile(r"[\w.+-]+@(?!buyer\.example)[\w-]+\.[\w.]+"),
}


@pytest.fixture(scope="module")
def params():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["portfolio_transfer"].params


def invalid(params, name, value) -> bool:
    from airflow.sdk.exceptions import ParamValidationError

    try:
        params.get_param(name).resolve(value)
    except ParamValidationError:
        return True
    return False


def test_every_setting_is_a_titled_described_param_in_a_known_section(params):
    """The form explains every setting and groups it, in the order of the sections."""
    seen = []
    for name in params.keys():
        param = params.get_param(name)
        assert param.description and len(param.description) > 20, name
        assert param.schema.get("title") and param.schema.get("section") in SECTIONS, name
        if param.schema["section"] not in seen:
            seen.append(param.schema["section"])
    assert seen == SECTIONS


def test_the_sections_hold_the_issues_settings(params):
    """transfer (id, mapping set, dry run, partitions, threshold), source, target, parties, compliance."""
    by_section: dict[str, set[str]] = {}
    for name in params.keys():
        by_section.setdefault(params.get_param(name).schema["section"], set()).add(name)
    assert {"transfer_id", "mapping_set", "dry_run", "partitions", "max_reject_rate"} <= by_section["Transfer"]
    assert by_section["Source"] == {"source", "source_conn_id"} and by_section["Target"] == {"target"}
    assert by_section["Parties"] == {"recipient_name", "recipient_contact", "buyer_purposes", "legal_route"}
    assert by_section["Compliance"] == {"pipia_reference", "pipia_approved_on", "cross_border_destinations"}
    assert by_section["Alerts"] == {"alert_conn_id"}


def test_no_param_takes_a_secret_or_carries_a_personal_value(params):
    """No password-like name; no default, example or description holds a mobile, ID, card number or a
    personal mailbox (the recipient's contact is the buyer's role mailbox)."""
    for name in params.keys():
        assert not SECRET_NAMES.search(name), name
        param = params.get_param(name)
        text = json.dumps({"default": param.value, "schema": param.schema}, ensure_ascii=False)
        for kind, pattern in PERSONAL.items():
            assert not pattern.search(text), f"{name}: {kind}"


@pytest.mark.parametrize("name", ["recipient_name", "recipient_contact"])
@pytest.mark.parametrize("value", ["Officer Wang, 13800138000", "ID 11010519491231002X", "card 6222021234567890123"])
def test_free_text_settings_refuse_personal_numbers(params, name, value):
    """A mobile, an ID number or a card number typed into a free-text field is refused (the conf is shown in
    clear in the UI)."""
    assert invalid(params, name, value)
    assert not invalid(params, name, "Buyer Life, privacy office, 400-000-0000, privacy@buyer.example")


def test_target_never_takes_a_url_with_a_password(params):
    """Only a SQLite URL or a connection id; a PostgreSQL URL (with its password) belongs in a connection."""
    assert invalid(params, "target", "postgresql://buyer:s3cret@db.example/buyer")
    assert not invalid(params, "target", "sqlite:////srv/buyer.db") and not invalid(params, "target", "buyer_db")


def test_transfer_id_param_rejects_path_tricks(params):
    """A transfer id that could escape the report folder is refused by the form's validation."""
    assert invalid(params, "transfer_id", "../../etc")
    assert params.get_param("transfer_id").resolve("deal-2026.01") == "deal-2026.01"


def test_source_conn_id_defaults_to_the_local_folder(params):
    """An empty source_conn_id means a local drop folder; a connection id must look like one."""
    param = params.get_param("source_conn_id")
    assert param.resolve() == "" and param.resolve("seller_sftp") == "seller_sftp"
    assert invalid(params, "source_conn_id", "sftp://user:secret@host")


def test_max_reject_rate_is_a_share(params):
    """max_reject_rate is a number from 0 to 1 (default 0.10); other values are refused."""
    assert params.get_param("max_reject_rate").resolve() == 0.10
    assert params.get_param("max_reject_rate").resolve(0.02) == 0.02
    assert all(invalid(params, "max_reject_rate", bad) for bad in (-0.1, 1.5, "5%"))


def test_partitions_is_an_integer_from_1_to_64(params):
    """partitions: default 1 (one task per stage), at most 64."""
    assert params.get_param("partitions").resolve() == 1 and params.get_param("partitions").resolve(8) == 8
    assert all(invalid(params, "partitions", bad) for bad in (0, 65, 2.5, "4"))


def test_legal_route_is_one_of_three(params):
    """The legal route is an enum (REQUIREMENTS §1.5), Art. 22 notice by default."""
    param = params.get_param("legal_route")
    assert param.resolve() == "ART22_NOTICE"
    assert set(param.schema["enum"]) == {"ART22_NOTICE", "ART23_SEPARATE_CONSENT", "STATUTORY_ART92"}
    assert set(param.schema["values_display"]) == set(param.schema["enum"])
    assert invalid(params, "legal_route", "ART24")


def test_impact_assessment_fields(params):
    """Reference empty by default (the gate then stops the run); the approval date is a date picker or empty."""
    assert params.get_param("pipia_reference").resolve() == ""
    assert params.get_param("pipia_reference").resolve("PIPIA-2026-014") == "PIPIA-2026-014"
    assert invalid(params, "pipia_reference", "PIPIA 2026; DROP TABLE")
    date_param = params.get_param("pipia_approved_on")
    assert date_param.schema["format"] == "date" and date_param.resolve() is None
    assert date_param.resolve("2026-03-01") == "2026-03-01"
    assert invalid(params, "pipia_approved_on", "01/03/2026")


def test_cross_border_destinations_default_to_none_and_are_shaped(params):
    """No destination by default; each one names a jurisdiction code and an organisation; mechanisms are an enum."""
    assert params.get_param("cross_border_destinations").resolve() == []
    ok = [{"jurisdiction": "HK", "recipient": "Buyer Group (HK) Ltd", "mechanism": "STANDARD_CONTRACT",
           "reference": "SC-2026-001"}]
    assert params.get_param("cross_border_destinations").resolve(ok) == ok
    for bad in ([{"jurisdiction": "Hong Kong", "recipient": "G"}], [{"jurisdiction": "HK"}],
                [{"jurisdiction": "HK", "recipient": "G", "mechanism": "HANDSHAKE"}],
                [{"jurisdiction": "HK", "recipient": "G", "password": "x"}]):
        assert invalid(params, "cross_border_destinations", bad), bad


def test_alert_connection_is_a_connection_id(params):
    """alert_conn_id names a connection (empty: the deployment's default), never a URL with a token."""
    assert params.get_param("alert_conn_id").resolve() == ""
    assert invalid(params, "alert_conn_id", "https://hooks.example/T000/SECRET")
