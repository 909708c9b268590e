"""What every real run of portfolio_transfer in the tests needs since the compliance gate and the approval gate.

`compliant(conf)` adds a current impact assessment (approved 30 days ago, so it stays current whenever the
suite runs). `DAGS_TEST_APPROVE` makes `airflow dags test` mark the approval gate done (dags test has no one to
answer it); the REST tests answer it through the HITL API instead.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

APPROVAL_TASK = "approve_load"
DAGS_TEST_APPROVE = ["--mark-success-pattern", APPROVAL_TASK]
TEST_PIPIA = "PIPIA-TEST-001"


def pipia_date(days_ago: int = 30) -> str:
    """An approval date `days_ago` days before today, as the form takes it."""
    return (date.today() - timedelta(days=days_ago)).isoformat()


def compliant(conf: dict[str, Any]) -> dict[str, Any]:
    """The conf with a current impact assessment unless it names one itself."""
    return {"pipia_reference": TEST_PIPIA, "pipia_approved_on": pipia_date(), **conf}
