"""The approval gate before the load: Airflow's human-in-the-loop ApprovalOperator, showing the run's summary.

The page shows what the run found (validation counts and reject reasons by code, the load plan, identifiers
found in clear fields, the compliance verdict; no values), computed when the task runs, from the run's records.
Approve: the load runs. Reject: the task fails (`fail_on_reject`), so the load never runs and the run is marked
failed and alerted, not quietly green. No answer within the timeout fails the same way; silence never approves.
The decision, who gave it and when are written to the run's record and so into the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from booktransfer.orchestration import tasks

if TYPE_CHECKING:
    from airflow.sdk import Context


class LoadApproval(ApprovalOperator):
    """Ask an operator to approve the load of this run, with its validation and load-plan summary."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(subject="Load the transfer into the buyer's database?", fail_on_reject=True, **kwargs)

    def execute(self, context: Context) -> Any:
        """Fill in the page from the run's records, then wait for the answer."""
        self.subject, self.body = tasks.approval_page(dict(context["params"]), context["run_id"])
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Record the answer, then let the operator approve (load follows) or fail on reject or timeout."""
        tasks.record_approval(dict(context["params"]), context["run_id"], event, self.task_id)
        return super().execute_complete(context, event)
