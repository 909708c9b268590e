"""A valid mini drop matching the example mapping set: four data files and CONTROL.txt, all synthetic."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.unit.mapping.builders import CUSTOMER_COLUMNS, POLICY_COLUMNS, customer_row, policy_row

PARTY_COLUMNS = ("ContNo", "CustomerNo", "RoleType", "RelationToAppnt", "BnfGrade", "BnfLot")
CONSENT_COLUMNS = ("LogNo", "CustomerNo", "AuthType", "AuthFlag", "AuthTime", "Channel", "EvidenceNo")


def _rows(columns: tuple[str, ...], dicts: list[dict[str, str]]) -> list[list[str]]:
    return [[d[c] for c in columns] for d in dicts]


def default_files() -> dict[str, tuple[list[str], list[list[str]]]]:
    """The mini book: file name -> (header, data rows). Two customers, two policies, parties, consents."""
    c1, c2 = customer_row(1), customer_row(2, Sex="1", Name="测试·乙")
    p1, p2 = policy_row(1, c1["CustomerNo"]), policy_row(2, c2["CustomerNo"], RiskCode="HB0301")
    parties = [
        {"ContNo": p1["ContNo"], "CustomerNo": c1["CustomerNo"], "RoleType": "1", "RelationToAppnt": "00",
         "BnfGrade": "", "BnfLot": ""},
        {"ContNo": p1["ContNo"], "CustomerNo": c2["CustomerNo"], "RoleType": "2", "RelationToAppnt": "01",
         "BnfGrade": "1", "BnfLot": "100"},
        {"ContNo": p2["ContNo"], "CustomerNo": c2["CustomerNo"], "RoleType": "1", "RelationToAppnt": "00",
         "BnfGrade": "", "BnfLot": ""},
    ]
    consents = [
        {"LogNo": "A0000000001", "CustomerNo": c1["CustomerNo"], "AuthType": "YX", "AuthFlag": "1",
         "AuthTime": "2021-03-04 05:06:07", "Channel": "03", "EvidenceNo": "EV000000000001"},
    ]
    return {
        "LDPERSON.csv": (list(CUSTOMER_COLUMNS), _rows(CUSTOMER_COLUMNS, [c1, c2])),
        "LCCONT.csv": (list(POLICY_COLUMNS), _rows(POLICY_COLUMNS, [p1, p2])),
        "LCPARTY.csv": (list(PARTY_COLUMNS), _rows(PARTY_COLUMNS, parties)),
        "CUST_AUTH_LOG.csv": (list(CONSENT_COLUMNS), _rows(CONSENT_COLUMNS, consents)),
    }


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """A data file as the seller writes it: comma-delimited, minimal quoting, \\n line ends, UTF-8."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


@dataclass
class MiniDrop:
    """A drop folder on disk and what its control file declares (editable before `write`)."""

    folder: Path
    files: dict[str, tuple[list[str], list[list[str]]]] = field(default_factory=default_files)

    def write(self, control_rows: dict[str, int] | None = None, omit_from_control: tuple[str, ...] = ()) -> Path:
        """Write every data file and a matching CONTROL.txt (with optional row-count overrides/omissions)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for name, (header, rows) in self.files.items():
            data = csv_bytes(header, rows)
            (self.folder / name).write_bytes(data)
            if name not in omit_from_control:
                count = (control_rows or {}).get(name, len(rows))
                lines.append(f"{name}|{count}|{hashlib.sha256(data).hexdigest()}")
        (self.folder / "CONTROL.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.folder


@pytest.fixture
def mini_drop(tmp_path: Path) -> MiniDrop:
    """An unwritten mini drop in tmp_path/drop; tests edit `files` then call `write()`."""
    return MiniDrop(tmp_path / "drop")
