"""booktransfer.operations.review: the approval page shows counts, codes and the verdict, never values."""

from __future__ import annotations

import json

from booktransfer.operations.review import approval_page, redacted_url
from booktransfer.pipeline import RunContext

VALIDATION = {"max_reject_rate": 0.1, "over_threshold": [], "dry_run": False, "entities": {
    "customers": {"source_rows": 400, "rows_valid": 380, "rows_quarantined": 20, "rows_quarantined_primary": 15,
                  "rows_quarantined_cascade": 3, "map_rejected": 2, "rows_merged": 1, "reject_rate": 0.0425,
                  "rejects_by_reason": {"ID_CHECK_DIGIT": 9, "MISSING_MOBILE": 6, "PARENT_QUARANTINED": 3}}}}
PLAN = {"summary": {"rows": {"customers": 379, "consent_status": 1895}, "buyer_purposes": ["SERVICING"],
                    "permitted_purposes": ["MARKETING", "SERVICING"], "reconsented_purposes": [],
                    "data_subject_requests": {"requests": 2, "persons_suppressed": 1, "persons_held": 1,
                                              "requests_matching_no_loaded_person": 0,
                                              "held": [{"source_line": 17, "id_token": "tok_abc"}]},
                    "consent": {"persons": 379, "guardian_required": 12},
                    "notices": {"rows": 500, "by_status": {"PENDING": 480, "NO_CHANNEL": 20}}},
        "suppressed_lines": {"customers": [42]}}
COMPLIANCE = {"verdict": "PASS", "legal_route": "ART22_NOTICE", "pipia_valid_until": "2027-03-01",
              "pipia": {"reference": "PIPIA-2026-014", "approved_on": "2026-03-01"},
              "destinations": [{"jurisdiction": "HK", "mechanism": "STANDARD_CONTRACT", "reference": "SC-1",
                                "mainland": False, "recipient": "Group"}]}


def test_the_page_summarises_the_run_from_its_records(tmp_path):
    """Validation counts and reasons by code, the load plan, identifier findings and the gate's verdict."""
    ctx = RunContext("deal-1", "manual__1", "example_seller", "sqlite://", staging_root=tmp_path,
                     reports_root=tmp_path / "reports")
    for name, doc in {"validation.json": VALIDATION, "load/plan.json": PLAN, "compliance.json": COMPLIANCE,
                      "protect.json": {"identifier_findings": [{"entity": "policies", "column": "remark",
                                                                "kind": "mobile", "rows": 2,
                                                                "source_lines": [5, 9]}]}}.items():
        (ctx.run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx.run_dir / name).write_text(json.dumps(doc), encoding="utf-8")
    subject, body = approval_page(ctx, "sqlite:///buyer.db")
    assert subject == "Load transfer deal-1 into the buyer's database (2274 rows)?"
    assert "| customers | 400 | 380 | 20 (17 / 3) | 1 | 4.25% |" in body
    assert "- customers: `ID_CHECK_DIGIT` 9, `MISSING_MOBILE` 6, `PARENT_QUARANTINED` 3" in body
    assert "| consent_status | 1895 |" in body and "persons left out 1, kept under a retention hold 1" in body
    assert "policies.remark: mobile in 2 row(s)" in body
    assert "PASS: legal route ART22_NOTICE" in body and "HK (STANDARD_CONTRACT SC-1)" in body
    # The page may show the run's folder (whose temporary path can hold any digits), never the lines themselves.
    assert "tok_abc" not in body and "[5, 9]" not in body and "[42]" not in body


def test_the_page_says_what_is_missing(tmp_path):
    """Before the records exist the page says so instead of failing."""
    ctx = RunContext("deal-1", "manual__1", "example_seller", "sqlite://", staging_root=tmp_path)
    subject, body = approval_page(ctx, "buyer")
    assert subject.endswith("database?") and "validate stage did not finish" in body


def test_a_password_never_reaches_the_page():
    """The target is shown with its password hidden."""
    assert "s3cret" not in redacted_url("postgresql://buyer:s3cret@db.example/buyer")
