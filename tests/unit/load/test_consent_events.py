"""booktransfer.load.consent_events: quarantined events read back as far as they go; re-consent files."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from booktransfer.errors import RequestFileError
from booktransfer.load.consent_events import quarantined_events, read_reconsent
from tests.unit.load.builders import example_mapping

RAW = pa.table({
    "LogNo": ["A1", "A2", "A3", "A4"],
    "CustomerNo": ["C1", "c2 ", "C3", ""],
    "AuthType": ["ZZ", "YX", "MG", "YX"],
    "AuthFlag": ["0", "7", "1", "0"],
    "AuthTime": ["2024-05-01 10:00:00", "2024-13-01 10:00:00", "２０２４-05-01 10:00:00", "2024-05-01 10:00:00"],
    "Channel": ["01", "02", "99", "01"],
    "EvidenceNo": ["EV1", "EV2", "EV3", "EV4"],
    "_line": [2, 3, 4, 5],
})


def test_quarantined_lines_become_events_with_what_can_be_read():
    """Unknown codes and unreadable times become None; a line without a customer cannot be attributed."""
    events = quarantined_events(example_mapping(), "consents", RAW, [2, 3, 4, 5])
    assert set(events) == {"C1", "C2", "C3"}
    [c1], [c2], [c3] = events["C1"], events["C2"], events["C3"]
    assert (c1.purpose, c1.action, c1.event_time, c1.quarantined) == (None, "WITHDRAWN", datetime(2024, 5, 1, 10),
                                                                      True)
    assert (c2.purpose, c2.action, c2.event_time) == ("MARKETING", None, None)
    assert (c3.purpose, c3.action, c3.event_time, c3.source_line) == ("SENSITIVE_DATA", "GRANTED", None, 4)


def test_only_the_quarantined_lines_are_read():
    """Lines that were loaded are not read back."""
    assert set(quarantined_events(example_mapping(), "consents", RAW, [4])) == {"C3"}
    assert quarantined_events(example_mapping(), "consents", RAW, []) == {}


def _file(tmp_path, text):
    path = tmp_path / "reconsent.csv"
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "event_no,customer_no,purpose,action,event_time,channel,evidence_ref"


def test_reconsent_file_is_read_as_events_with_evidence(tmp_path):
    """Re-consent events keep their evidence and are marked as re-consent."""
    events = read_reconsent(_file(tmp_path, HEADER + ",by_guardian\nR1,c9,new_purpose,granted,2026-01-02 09:00:00,"
                                  "APP,EVR1,true\n"))
    [event] = events["C9"]
    assert (event.purpose, event.action, event.event_time, event.evidence_ref, event.source, event.by_guardian) == (
        "NEW_PURPOSE", "GRANTED", datetime(2026, 1, 2, 9), "EVR1", "RECONSENT", True)


@pytest.mark.parametrize(("text", "message"), [
    (HEADER + "\nR1,C9,P,GRANTED,2026-01-02 09:00:00,APP,\n", "reconsent.csv:2: column evidence_ref is empty"),
    (HEADER + "\nR1,C9,P,GRANTED,02/01/2026,APP,EV\n", "reconsent.csv:2: column event_time is not"),
    ("event_no,customer_no\nR1,C9\n", "header must hold"),
])
def test_reconsent_without_evidence_or_time_is_refused(tmp_path, text, message):
    """A re-consent nobody can prove is no re-consent."""
    with pytest.raises(RequestFileError, match=message):
        read_reconsent(_file(tmp_path, text))
