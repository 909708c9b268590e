"""The trigger form of the `portfolio_transfer` DAG: every transfer setting as a titled, validated param.

No param takes a secret or a personal value: the target is a database URL without a password (SQLite)
or the id of an Airflow connection that holds the credentials; an SFTP source is likewise a connection id.
"""

from __future__ import annotations

import os

from airflow.sdk import Param

from booktransfer.load.settings import DEFAULT_BUYER_PURPOSES, DEFAULT_RECIPIENT_CONTACT, DEFAULT_RECIPIENT_NAME

DEFAULT_MAPPING_SET = "example_seller"
DEFAULT_SOURCE = "var/drop"
DEFAULT_TARGET = "sqlite:///var/buyer.db"
DEFAULT_MAX_REJECT_RATE = 0.10
DROP_POKE_SECONDS = 60
DROP_TIMEOUT_SECONDS = 12 * 60 * 60


def drop_sensor_timing() -> dict[str, float]:
    """How often wait_for_drop looks for the control file and when it gives up (seconds).

    Read when the DAG is parsed: `BOOKTRANSFER_DROP_POKE_SECONDS` (default 60) and
    `BOOKTRANSFER_DROP_TIMEOUT_SECONDS` (default 12 h).
    """
    poke = float(os.environ.get("BOOKTRANSFER_DROP_POKE_SECONDS", DROP_POKE_SECONDS))
    timeout = float(os.environ.get("BOOKTRANSFER_DROP_TIMEOUT_SECONDS", DROP_TIMEOUT_SECONDS))
    if poke <= 0 or timeout <= 0:
        raise ValueError("BOOKTRANSFER_DROP_POKE_SECONDS and BOOKTRANSFER_DROP_TIMEOUT_SECONDS must be positive")
    return {"poke_interval": poke, "timeout": timeout}


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
        "max_reject_rate": Param(
            DEFAULT_MAX_REJECT_RATE, type="number", minimum=0, maximum=1, title="Maximum reject rate",
            section="Transfer",
            description="Per entity, the share of the seller's rows (0 to 1) that may be quarantined for defects "
                        "of their own (map and validate stages; rows held back only because another row was "
                        "quarantined do not count). Above it the run stops after validation, with the quarantine "
                        "and Data Docs written and nothing loaded; a dry run only reports it.",
        ),
        "source": Param(
            DEFAULT_SOURCE, type="string", minLength=1, title="Source drop folder", section="Source",
            description="The folder holding the seller's files and control file: a local folder (relative paths "
                        "are read from the project folder) or, with an SFTP connection below, the folder on the "
                        "SFTP server (relative paths start in the login's home folder).",
        ),
        "source_conn_id": Param(
            "", type="string", pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,249})?$",
            title="Source SFTP connection", section="Source",
            description="Empty: the drop is a local folder. Otherwise the id of an Airflow SFTP connection (host, "
                        "login, client key in the extra 'key_file' or 'private_key', the server's public key "
                        "pinned in the extra 'host_key'); the drop folder above is then read from that server.",
        ),
        "target": Param(
            DEFAULT_TARGET, type="string", minLength=1, title="Target database", section="Target",
            description="An Airflow connection id holding the buyer database's credentials, or a SQLite URL "
                        "(sqlite:///var/buyer.db is relative to the project folder).",
        ),
        **consent_and_notice_params(),
    }


def consent_and_notice_params() -> dict[str, Param]:
    """The load stage's settings: as-of date, buyer purposes, data-subject requests, re-consent, notices."""
    section = "Consent, requests and notices"
    return {
        "as_of_date": Param(
            "", type="string", pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$", title="As-of date (cut-over)",
            section=section,
            description="YYYY-MM-DD. Decides who is under 14 (guardian consent) and whose retention hold has "
                        "ended. Empty: the day the run protects the data (Beijing time); give the cut-over date "
                        "for a reproducible run.",
        ),
        "buyer_purposes": Param(
            list(DEFAULT_BUYER_PURPOSES), type="array", minItems=1, uniqueItems=True,
            items={"type": "string", "pattern": r"^[A-Z][A-Z0-9_]{1,39}$"}, title="Buyer's purposes",
            section=section,
            description="The purposes the buyer will process the data for. A purpose the seller's consents do "
                        "not cover (anything but SERVICING and the seller's consent purposes) fails the run "
                        "unless a re-consent file records consent for it (PIPL Art. 22).",
        ),
        "suppression_file": Param(
            "", type="string", title="Data-subject requests file", section=section,
            description="Empty: none. Otherwise a UTF-8 CSV of erasure and objection requests received up to "
                        "the cut-over (request_type, id_number or customer_no; see docs/loading-and-consent.md), "
                        "relative to the project folder. Named persons are not loaded unless a statutory "
                        "retention hold keeps them (then they are loaded, restricted, and listed).",
        ),
        "reconsent_file": Param(
            "", type="string", title="Re-consent file", section=section,
            description="Empty: none. Otherwise a UTF-8 CSV of consent events collected for the buyer's new "
                        "purposes (event_no, customer_no, purpose, action, event_time, channel, evidence_ref).",
        ),
        "recipient_name": Param(
            DEFAULT_RECIPIENT_NAME, type="string", minLength=1, maxLength=200, title="Recipient's name",
            section=section,
            description="The buyer as named in the PIPL Art. 22 notice every data subject receives.",
        ),
        "recipient_contact": Param(
            DEFAULT_RECIPIENT_CONTACT, type="string", minLength=1, maxLength=300, title="Recipient's contact",
            section=section,
            description="How data subjects reach the buyer about their personal information (officer, "
                        "address, phone or e-mail), printed in the notice.",
        ),
        "notify_via_policyholder": Param(
            True, type="boolean", title="Notify via the policyholder", section=section,
            description="Insured persons and beneficiaries with no contact of their own are notified through "
                        "the policyholder (R39); off: they are listed as NO_CHANNEL.",
        ),
    }
