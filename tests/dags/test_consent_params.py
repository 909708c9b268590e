"""The trigger form's consent, data-subject request and notice settings, and how a task turns them into a run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def params():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["portfolio_transfer"].params


def test_buyer_purposes_default_to_the_sellers_and_reject_malformed_names(params):
    """Default: continue the seller's purposes; a purpose must be an upper-case code, listed once."""
    from airflow.sdk.exceptions import ParamValidationError

    param = params.get_param("buyer_purposes")
    assert param.resolve() == ["SERVICING", "MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA", "CROSS_BORDER"]
    assert param.resolve(["SERVICING", "CROSS_SELL"]) == ["SERVICING", "CROSS_SELL"]
    for bad in ([], ["marketing"], ["SERVICING", "SERVICING"], ["DROP TABLE"]):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_as_of_date_is_a_date_or_empty(params):
    """The cut-over date is YYYY-MM-DD or empty (the run's day)."""
    from airflow.sdk.exceptions import ParamValidationError

    param = params.get_param("as_of_date")
    assert param.resolve() == "" and param.resolve("2025-12-31") == "2025-12-31"
    with pytest.raises(ParamValidationError):
        param.resolve("31/12/2025")


def test_recipient_cannot_be_blank(params):
    """The Art. 22 notice must name the recipient and how to reach it."""
    from airflow.sdk.exceptions import ParamValidationError

    for name in ("recipient_name", "recipient_contact"):
        with pytest.raises(ParamValidationError):
            params.get_param(name).resolve("")


def test_run_context_carries_the_settings(monkeypatch, tmp_path):
    """A task's run context: as-of date, purposes, request files (relative to the project), recipient."""
    from booktransfer.orchestration.tasks import run_context

    monkeypatch.setenv("BOOKTRANSFER_HOME", str(tmp_path))
    ctx = run_context({"transfer_id": "t", "mapping_set": "example_seller", "dry_run": False,
                       "target": "sqlite:///var/buyer.db", "as_of_date": "2025-12-31",
                       "buyer_purposes": ["SERVICING"], "suppression_file": "var/requests.csv",
                       "reconsent_file": "", "recipient_name": "B Life", "recipient_contact": "400",
                       "notify_via_policyholder": False}, "manual__1")
    assert ctx.as_of == date(2025, 12, 31)
    assert ctx.settings.buyer_purposes == ("SERVICING",)
    assert ctx.settings.suppression_file == tmp_path / "var" / "requests.csv"
    assert ctx.settings.reconsent_file is None
    assert (ctx.settings.recipient_name, ctx.settings.recipient_contact) == ("B Life", "400")
    assert ctx.settings.notify_via_policyholder is False


def test_run_context_without_the_new_params_keeps_the_defaults():
    """A conf from before these settings (only the first six params) still builds a run."""
    from booktransfer.load.settings import TransferSettings
    from booktransfer.orchestration.tasks import run_context

    ctx = run_context({"transfer_id": "t", "mapping_set": "example_seller", "dry_run": True,
                       "target": "sqlite:///var/buyer.db"}, "manual__1")
    assert ctx.as_of is None and ctx.settings == TransferSettings()
