"""The trigger form of the `portfolio_transfer` DAG: every transfer setting as a titled, validated param.

No param takes a secret or a personal value: the target is a database URL without a password (SQLite)
or the id of an Airflow connection that holds the credentials.
"""

from __future__ import annotations

from airflow.sdk import Param

DEFAULT_MAPPING_SET = "example_seller"
DEFAULT_SOURCE = "var/drop"
DEFAULT_TARGET = "sqlite:///var/buyer.db"


def transfer_params() -> dict[str, Param]:
    """The DAG's params, grouped in sections for the trigger form."""
    return {
        "transfer_id": Param(
            "demo-transfer", type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            title="Transfer id", section="Transfer",
            description="Names this transfer in the buyer's tables and the report folder; re-running a transfer "
                        "id replaces what it loaded before.",
        ),
        "mapping_set": Param(
            DEFAULT_MAPPING_SET, type="string", pattern=r"^[a-z][a-z0-9_]*$", title="Mapping set",
            section="Transfer",
            description="A folder under mappings/ that maps the seller's drop to the buyer's schema.",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", section="Transfer",
            description="Extract, map, validate and protect, report what would load, and load nothing.",
        ),
        "source": Param(
            DEFAULT_SOURCE, type="string", minLength=1, title="Source drop folder", section="Source",
            description="The folder holding the seller's files and control file (relative paths are read from "
                        "the project folder).",
        ),
        "target": Param(
            DEFAULT_TARGET, type="string", minLength=1, title="Target database", section="Target",
            description="An Airflow connection id holding the buyer database's credentials, or a SQLite URL "
                        "(sqlite:///var/buyer.db is relative to the project folder).",
        ),
    }
