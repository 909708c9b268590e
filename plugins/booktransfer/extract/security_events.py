"""Security events of a transfer run (REQUIREMENTS R36): one JSON line per event in `security_events.jsonl`.

An event is what PIPL Art. 57 asks an incident record to hold — the categories of personal information
concerned, the cause, the possible harm, the remedial measures taken, what individuals can do, a contact —
plus when it was detected and the reporting deadlines (4 h to the provincial CAC, 72 h to a GDPR authority).
It names files, hosts and fingerprints, never a field value: the cause is an error message, and
booktransfer's messages never carry values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from booktransfer.errors import BookTransferError, ChecksumMismatch, ControlFileError, HostKeyMismatch, RowCountMismatch

if TYPE_CHECKING:
    from booktransfer.mapping.loader import MappingSet

log = logging.getLogger(__name__)

EVENTS_FILE = "security_events.jsonl"
CAC_REPORT_WITHIN = timedelta(hours=4)
GDPR_REPORT_WITHIN = timedelta(hours=72)
DEFAULT_CONTACT = "the transfer's personal information protection officer (see the DAG owner)"


@dataclass(frozen=True)
class _Assessment:
    """What an event type means for the people in the book, and what was done about it."""

    possible_harm: str
    remedial_measures: str
    individual_measures: str


_NOTHING_FOR_INDIVIDUALS = (
    "None for now: nothing reached the buyer. Individuals are notified if the investigation finds their "
    "information was disclosed or altered."
)
_ASSESSMENTS = {
    "checksum_mismatch": _Assessment(
        possible_harm="The file was altered or truncated after the seller wrote the control file: records may "
                      "have been changed, injected or lost in transit or on the drop server.",
        remedial_measures="The run stopped before anything was loaded and the landed copy was deleted. Confirm "
                          "the SHA-256 with the seller over a separate channel, review access to the drop "
                          "server, then have the seller re-deliver the drop.",
        individual_measures=_NOTHING_FOR_INDIVIDUALS,
    ),
    "row_count_mismatch": _Assessment(
        possible_harm="The file holds a different number of records than the seller declared: records may "
                      "have been dropped or added after the export.",
        remedial_measures="The run stopped before anything was loaded and the landed copy was deleted. Ask the "
                          "seller to reconcile the export with its control file and re-deliver the drop.",
        individual_measures=_NOTHING_FOR_INDIVIDUALS,
    ),
    "control_file_mismatch": _Assessment(
        possible_harm="The drop does not match its control file (a file missing from it, or an entry that is "
                      "malformed or names a path): the delivery may be incomplete or tampered with.",
        remedial_measures="The run stopped before anything was loaded and landed copies were deleted. Ask the "
                          "seller to re-issue the control file with the drop; review access to the drop server.",
        individual_measures=_NOTHING_FOR_INDIVIDUALS,
    ),
    "host_key_mismatch": _Assessment(
        possible_harm="The drop server presented a host key other than the pinned one: another machine may be "
                      "impersonating the seller's server to read or feed the transfer.",
        remedial_measures="The connection was refused before authenticating or downloading anything. Confirm "
                          "the server's host key fingerprint with the seller over a separate channel before "
                          "changing the pinned key.",
        individual_measures=_NOTHING_FOR_INDIVIDUALS,
    ),
}


def pi_categories(mapping_set: MappingSet, entity: str | None = None) -> list[str]:
    """The classifications of the data an entity's file (or, without one, the whole drop) holds."""
    entities = [mapping_set.entities[entity]] if entity else list(mapping_set.entities.values())
    return sorted({str(f.classification) for m in entities for f in m.fields})


def event_type_of(error: BookTransferError) -> str | None:
    """The security event an error stands for, or None when it is not a security matter."""
    if isinstance(error, ChecksumMismatch):
        return "checksum_mismatch"
    if isinstance(error, RowCountMismatch):
        return "row_count_mismatch"
    if isinstance(error, ControlFileError):
        return "control_file_mismatch"
    if isinstance(error, HostKeyMismatch):
        return "host_key_mismatch"
    return None


@dataclass(frozen=True)
class SecurityEvent:
    """One incident record (R36). Every field is filled; none holds personal information."""

    event_type: str
    transfer_id: str
    run_id: str
    file: str
    detected_at: str
    cause: str
    pi_categories: list[str]
    possible_harm: str
    remedial_measures: str
    individual_measures: str
    contact: str
    report_deadline: str
    gdpr_report_deadline: str


class SecurityEventLog:
    """Appends a run's security events to `{run_dir}/security_events.jsonl`."""

    def __init__(self, path: Path, transfer_id: str, run_id: str, contact: str = DEFAULT_CONTACT) -> None:
        self.path = path if hasattr(path, "fs") else Path(path)  # a staging URL's path stays an fsspec path
        self.transfer_id = transfer_id
        self.run_id = run_id
        self.contact = contact

    def event(self, event_type: str, file: str, cause: str, pi_categories: list[str],
              detected_at: datetime | None = None) -> SecurityEvent:
        """Build the incident record of one event detected now (or at `detected_at`)."""
        when = (detected_at or datetime.now(UTC)).astimezone(UTC)
        assessment = _ASSESSMENTS[event_type]
        return SecurityEvent(
            event_type=event_type, transfer_id=self.transfer_id, run_id=self.run_id, file=file,
            detected_at=when.isoformat(), cause=cause, pi_categories=sorted(pi_categories),
            possible_harm=assessment.possible_harm, remedial_measures=assessment.remedial_measures,
            individual_measures=assessment.individual_measures, contact=self.contact,
            report_deadline=(when + CAC_REPORT_WITHIN).isoformat(),
            gdpr_report_deadline=(when + GDPR_REPORT_WITHIN).isoformat(),
        )

    def record(self, event: SecurityEvent) -> SecurityEvent:
        """Append the event as one JSON line (flushed to disk) and raise the alert in the log."""
        from booktransfer.storage import append_text

        append_text(self.path, json.dumps(asdict(event), ensure_ascii=False) + "\n")
        log.warning("SECURITY EVENT %s on %s recorded in %s; report by %s",
                    event.event_type, event.file, self.path, event.report_deadline)
        return event

    def record_error(self, error: BookTransferError, file: str, pi_categories: list[str]) -> SecurityEvent | None:
        """Record the event an error stands for (if it is a security matter); return it, or None."""
        event_type = event_type_of(error)
        if event_type is None:
            return None
        return self.record(self.event(event_type, file, str(error), pi_categories))


def read_events(path: Path) -> list[dict]:
    """The events recorded so far (an absent file means none)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
