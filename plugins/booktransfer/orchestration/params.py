"""The trigger form of the `portfolio_transfer` DAG and the DAG's timing settings.

Every setting is defined once, free of Airflow, in `booktransfer.operations.form` (title, description, section,
validation); here each becomes an Airflow `Param`. Timings (the drop sensor, the approval wait, retries) are the
deployment's, read from the environment when the DAG is parsed, not form fields.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Param

from booktransfer.operations.form import all_settings

DROP_POKE_SECONDS = 60
DROP_TIMEOUT_SECONDS = 12 * 60 * 60
APPROVAL_TIMEOUT_HOURS = 72
RETRIES = 3
RETRY_DELAY_SECONDS = 30
MAX_RETRY_DELAY_SECONDS = 10 * 60


def _positive(name: str, default: float) -> float:
    value = float(os.environ.get(name, default))
    if value <= 0:
        raise ValueError(f"{name} must be positive")
    return value


def drop_sensor_timing() -> dict[str, float]:
    """How often wait_for_drop looks for the control file and when it gives up (seconds).

    Read when the DAG is parsed: `BOOKTRANSFER_DROP_POKE_SECONDS` (default 60) and
    `BOOKTRANSFER_DROP_TIMEOUT_SECONDS` (default 12 h).
    """
    return {"poke_interval": _positive("BOOKTRANSFER_DROP_POKE_SECONDS", DROP_POKE_SECONDS),
            "timeout": _positive("BOOKTRANSFER_DROP_TIMEOUT_SECONDS", DROP_TIMEOUT_SECONDS)}


def approval_timeout() -> timedelta:
    """How long the approval gate waits for an answer before the run fails (`BOOKTRANSFER_APPROVAL_TIMEOUT_HOURS`,
    default 72 h); no answer never counts as approval."""
    return timedelta(hours=_positive("BOOKTRANSFER_APPROVAL_TIMEOUT_HOURS", APPROVAL_TIMEOUT_HOURS))


def io_retries() -> dict[str, object]:
    """Retries of the tasks that talk to the drop server or the buyer's database: 3, after 30 s, 60 s, 120 s
    (exponential backoff, at most 10 minutes apart). A verdict on the data fails at once, never retried."""
    return {"retries": RETRIES, "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS),
            "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(seconds=MAX_RETRY_DELAY_SECONDS)}


def transfer_params() -> dict[str, Param]:
    """The DAG's params, grouped in sections for the trigger form, in the form's order."""
    out = {}
    for setting in all_settings():
        schema = {k: v for k, v in setting.schema.items() if k != "description"}
        out[setting.name] = Param(setting.default, description=setting.schema["description"], **schema)
    return out
