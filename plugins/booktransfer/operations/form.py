"""Every transfer setting of the trigger form, as JSON Schema: one source for the DAG's params and settings files.

Each setting has a default, a title, a description and its validation, grouped in sections (the Airflow form
shows them in this order). No setting takes a secret (databases, SFTP servers and alert channels are Airflow
connection ids) or a personal value: the free-text ones refuse a mainland mobile number, an ID number or a card
number (`NO_PERSONAL_NUMBERS`), because a run's conf is shown in clear in the Airflow UI.

A settings file (YAML, the same names) pre-fills a repeatable run: `booktransfer settings render FILE.yaml`
checks it against this schema and prints the conf for `airflow dags trigger --conf` or the REST API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from booktransfer.compliance.model import LegalRoute, Mechanism
from booktransfer.errors import SettingsError
from booktransfer.load.settings import DEFAULT_BUYER_PURPOSES, DEFAULT_RECIPIENT_CONTACT, DEFAULT_RECIPIENT_NAME

TRANSFER, SOURCE, TARGET, PARTIES = "Transfer", "Source", "Target", "Parties"
COMPLIANCE, SUBJECTS, ALERTS = "Compliance", "Consent, requests and notices", "Alerts"

DEFAULT_TRANSFER_ID = "demo-transfer"
DEFAULT_MAPPING_SET = "example_seller"
DEFAULT_SOURCE = "var/drop"
DEFAULT_TARGET = "sqlite:///var/buyer.db"
DEFAULT_MAX_REJECT_RATE = 0.10
MAX_PARTITIONS = 64
CONN_ID = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,249})?$"
DATE_OR_EMPTY = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"
NO_PERSONAL_NUMBERS = {"not": {"pattern": r"(^|[^0-9])(1[3-9][0-9]{9}|[0-9]{15,19}|[0-9]{17}[Xx])([^0-9]|$)"}}
"""Refuses a string holding a mainland mobile number, a 15/18-character ID number or a 16-19-digit card number."""


@dataclass(frozen=True)
class Setting:
    """One field of the trigger form: its name, default and JSON Schema (with title, description, section)."""

    name: str
    default: Any
    schema: dict[str, Any]

    @property
    def section(self) -> str:
        """The form section the setting is shown in."""
        return self.schema["section"]


def _s(name: str, default: Any, section: str, title: str, description: str, **schema: Any) -> Setting:
    return Setting(name, default, {"title": title, "description": description, "section": section, **schema})


def transfer_settings() -> list[Setting]:
    """The Transfer section: which transfer, which mapping, dry run, partitions, the reject threshold."""
    return [
        _s("transfer_id", DEFAULT_TRANSFER_ID, TRANSFER, "Transfer id",
           "Names this transfer in the buyer's tables and the report folder; re-running a transfer id replaces "
           "what it loaded before.", type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
        _s("mapping_set", DEFAULT_MAPPING_SET, TRANSFER, "Mapping set",
           "A folder under mappings/ that maps the seller's drop to the buyer's schema.",
           type="string", pattern=r"^[a-z][a-z0-9_]*$"),
        _s("dry_run", False, TRANSFER, "Dry run",
           "Extract, map, validate and protect, check the target and report what would load; skips the approval "
           "and the load, so nothing is written to the buyer's database.", type="boolean"),
        _s("partitions", 1, TRANSFER, "Partitions",
           f"Split the book into this many partitions (by a hash of the source key) processed side by side, one "
           f"task per partition (1 to {MAX_PARTITIONS}; 1: one task per stage).",
           type="integer", minimum=1, maximum=MAX_PARTITIONS),
        _s("max_reject_rate", DEFAULT_MAX_REJECT_RATE, TRANSFER, "Maximum reject rate",
           "Per entity, the share of the seller's rows (0 to 1) that may be quarantined for defects of their own "
           "(map and validate stages; rows held back only because another row was quarantined do not count). "
           "Above it the run stops after validation, with the quarantine and Data Docs written and nothing "
           "loaded; a dry run only reports it.", type="number", minimum=0, maximum=1),
    ]


def source_and_target_settings() -> list[Setting]:
    """The Source and Target sections: where the drop is, which database receives the book."""
    return [
        _s("source", DEFAULT_SOURCE, SOURCE, "Source drop folder",
           "The folder holding the seller's files and control file: a local folder (relative paths are read "
           "from the project folder) or, with an SFTP connection below, the folder on the SFTP server (relative "
           "paths start in the login's home folder).", type="string", minLength=1),
        _s("source_conn_id", "", SOURCE, "Source SFTP connection",
           "Empty: the drop is a local folder. Otherwise the id of an Airflow SFTP connection (host, login, "
           "client key in the extra 'key_file' or 'private_key', the server's public key pinned in the extra "
           "'host_key'); the drop folder above is then read from that server.", type="string", pattern=CONN_ID),
        _s("target", DEFAULT_TARGET, TARGET, "Target database",
           "An Airflow connection id holding the buyer database's credentials (e.g. buyer_db for "
           "AIRFLOW_CONN_BUYER_DB), or a SQLite URL (sqlite:///var/buyer.db is relative to the project "
           "folder). Never a URL with a password.", type="string", minLength=1,
           pattern=r"^(sqlite:///[^?#]+|[A-Za-z0-9][A-Za-z0-9._-]{0,249})$"),
    ]


def parties_settings() -> list[Setting]:
    """The Parties section: the recipient named in the notices, the buyer's purposes, the legal route."""
    return [
        _s("recipient_name", DEFAULT_RECIPIENT_NAME, PARTIES, "Recipient's name",
           "The buyer as named in the PIPL Art. 22 notice every data subject receives (an organisation).",
           type="string", minLength=1, maxLength=200, **NO_PERSONAL_NUMBERS),
        _s("recipient_contact", DEFAULT_RECIPIENT_CONTACT, PARTIES, "Recipient's contact",
           "How data subjects reach the buyer about their personal information: the organisation's officer "
           "role, address, hotline or mailbox, printed in the notice (no personal mobile number).",
           type="string", minLength=1, maxLength=300, **NO_PERSONAL_NUMBERS),
        _s("buyer_purposes", list(DEFAULT_BUYER_PURPOSES), PARTIES, "Buyer's purposes",
           "The purposes the buyer will process the data for. Under ART22_NOTICE and STATUTORY_ART92 a purpose "
           "the seller's consents do not cover (anything but SERVICING and the seller's consent purposes) fails "
           "the compliance gate unless a re-consent file records consent for it (PIPL Art. 22).",
           type="array", minItems=1, uniqueItems=True, items={"type": "string", "pattern": r"^[A-Z][A-Z0-9_]{1,39}$"}),
        _s("legal_route", LegalRoute.ART22_NOTICE.value, PARTIES, "Legal route",
           "Counsel's decision on why the seller may hand the book over (REQUIREMENTS §1.5). ART22_NOTICE: "
           "merger-like transfer, every data subject is told the recipient, purposes stay the seller's. "
           "STATUTORY_ART92: statutory transfer of a revoked or bankrupt life insurer, as ART22 for purposes. "
           "ART23_SEPARATE_CONSENT: separate consent of each person first (dry runs only in this version).",
           type="string", enum=[r.value for r in LegalRoute],
           values_display={LegalRoute.ART22_NOTICE.value: "PIPL Art. 22: notice (recipient continues purposes)",
                           LegalRoute.STATUTORY_ART92.value: "Insurance Law Art. 92: statutory transfer",
                           LegalRoute.ART23_SEPARATE_CONSENT.value: "PIPL Art. 23: separate consent first"}),
    ]


def _destination_schema() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": 200, **NO_PERSONAL_NUMBERS}
    return {"type": "object", "additionalProperties": False, "required": ["jurisdiction", "recipient"],
            "properties": {
                "jurisdiction": {"type": "string", "pattern": r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"},
                "recipient": text,
                "mechanism": {"type": ["string", "null"], "enum": [None, "", *(m.value for m in Mechanism)]},
                "reference": {"type": "string", "maxLength": 200, **NO_PERSONAL_NUMBERS},
            }}


def compliance_settings() -> list[Setting]:
    """The Compliance section: the impact assessment and cross-border destinations (R31, R32)."""
    return [
        _s("pipia_reference", "", COMPLIANCE, "Impact assessment (PIPIA) reference",
           "The reference of the approved personal information protection impact assessment for this transfer "
           "(PIPL Art. 55-56), e.g. PIPIA-2026-014. Required: the compliance gate stops the run without it.",
           type="string", maxLength=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9._/:-]{2,63})?$"),
        _s("pipia_approved_on", None, COMPLIANCE, "Impact assessment approved on",
           "The day the assessment was approved (YYYY-MM-DD). The gate stops the run when it is later than the "
           "run's date or more than a year before the run's date or the as-of date, whichever is later.",
           type=["null", "string"], format="date"),
        _s("cross_border_destinations", [], COMPLIANCE, "Cross-border destinations",
           "Empty (the default): the data stays in mainland China. Otherwise a JSON list of places it is stored "
           "or accessed from, e.g. [{\"jurisdiction\": \"HK\", \"recipient\": \"Buyer Group (HK) Ltd\", "
           "\"mechanism\": \"STANDARD_CONTRACT\", \"reference\": \"SC-2026-001\"}]. Jurisdiction: ISO 3166 code; "
           "anything but CN (Hong Kong HK, Macau MO and Taiwan TW included) is refused unless the mechanism "
           "(CAC_SECURITY_ASSESSMENT, STANDARD_CONTRACT, CERTIFICATION) and its reference are given and "
           "CROSS_BORDER is a buyer purpose (PIPL Art. 38-39).",
           type="array", items=_destination_schema()),
    ]


def subject_settings() -> list[Setting]:
    """The load stage's settings about data subjects: as-of date, requests, re-consent, notice channel."""
    return [
        _s("as_of_date", "", SUBJECTS, "As-of date (cut-over)",
           "YYYY-MM-DD. Decides who is under 14 (guardian consent) and whose retention hold has ended. Empty: "
           "the day the run protects the data (Beijing time); give the cut-over date for a reproducible run.",
           type="string", pattern=DATE_OR_EMPTY),
        _s("suppression_file", "", SUBJECTS, "Data-subject requests file",
           "Empty: none. Otherwise a UTF-8 CSV of erasure and objection requests received up to the cut-over "
           "(request_type, id_number or customer_no; see docs/loading-and-consent.md), relative to the project "
           "folder. Named persons are not loaded unless a statutory retention hold keeps them (then they are "
           "loaded, restricted, and listed).", type="string"),
        _s("reconsent_file", "", SUBJECTS, "Re-consent file",
           "Empty: none. Otherwise a UTF-8 CSV of consent events collected for the buyer's new purposes (or, "
           "under ART23_SEPARATE_CONSENT, for the provision itself): event_no, customer_no, purpose, action, "
           "event_time, channel, evidence_ref.", type="string"),
        _s("notify_via_policyholder", True, SUBJECTS, "Notify via the policyholder",
           "Insured persons and beneficiaries with no contact of their own are notified through the "
           "policyholder (R39); off: they are listed as NO_CHANNEL.", type="boolean"),
    ]


def alert_settings() -> list[Setting]:
    """The Alerts section: where a failure (or a waiting approval) is announced."""
    return [
        _s("alert_conn_id", "", ALERTS, "Alert connection",
           "Empty: the deployment's default (BOOKTRANSFER_ALERT_CONN_ID), else no alert. Otherwise the id of an "
           "Airflow connection: type http/https posts a JSON message to a webhook (host, schema, port, extra "
           "'endpoint'; a password is sent as a bearer token); type smtp sends an e-mail to the extra 'to'. The "
           "alert names the run, the task and the failing check, with a link; never a customer's data.",
           type="string", pattern=CONN_ID),
    ]


def all_settings() -> list[Setting]:
    """Every setting of the trigger form, in the form's order."""
    return [*transfer_settings(), *source_and_target_settings(), *parties_settings(), *compliance_settings(),
            *subject_settings(), *alert_settings()]


def defaults() -> dict[str, Any]:
    """Every setting's default value."""
    return {s.name: s.default for s in all_settings()}


def form_schema() -> dict[str, Any]:
    """The whole form as one JSON Schema object (unknown settings refused), e.g. for a settings file."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "portfolio_transfer settings",
            "type": "object", "additionalProperties": False,
            "properties": {s.name: {**s.schema, "default": s.default} for s in all_settings()}}


def _plain(value: Any) -> Any:
    """YAML's dates as ISO strings, recursively (the form and the conf speak JSON)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def validation_errors(values: Mapping[str, Any]) -> list[str]:
    """Every way `values` break the form's schema, one message per problem naming the setting (never its value)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(form_schema(), format_checker=jsonschema.FormatChecker())
    out = []
    for error in sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "settings"
        if error.validator == "additionalProperties":
            unknown = sorted(set(values) - {s.name for s in all_settings()}) if where == "settings" else []
            out.append(f"{where}: unknown setting(s) {', '.join(unknown)}" if unknown
                       else f"{where}: unknown key(s)")
        elif error.validator == "not":
            out.append(f"{where}: holds what looks like a mobile, ID or card number; settings take no personal data")
        else:
            out.append(f"{where}: fails '{error.validator}' ({_rule(error)})")
    return out


def _rule(error: Any) -> str:
    """The rule a value broke, said without the value."""
    rule = error.validator_value
    return ", ".join(map(str, rule)) if isinstance(rule, list) else str(rule)


def read_settings_file(path: Path) -> dict[str, Any]:
    """A YAML settings file as the full conf of a run: its values over the form's defaults, checked.

    Raises SettingsError naming the file and every problem (unknown setting, wrong type, a personal number).
    """
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise SettingsError(f"{path.name}{f':{line + 1}' if line is not None else ''}: not a YAML file "
                            f"({type(e).__name__})") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise SettingsError(f"{path.name}: must be a mapping of setting names to values")
    values = _plain(doc)
    errors = validation_errors(values)
    if errors:
        raise SettingsError(f"{path.name}: " + "; ".join(errors))
    return {**defaults(), **values}


def example_settings_file() -> str:
    """A commented YAML settings file with every setting at its default, grouped like the form."""
    import json

    lines = ["# portfolio_transfer settings: `booktransfer settings render FILE` prints the conf to trigger with.",
             "# Every setting is optional (missing ones take the form's default); names as in the trigger form."]
    section = None
    for s in all_settings():
        if s.section != section:
            section = s.section
            lines += ["", f"# --- {section}"]
        lines.append(f"# {s.schema['title']}")
        lines.append(f"{s.name}: {json.dumps(s.default, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"
