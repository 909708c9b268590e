"""A scanner for Chinese identifiers in text that goes to the buyer in clear (`keep` fields).

A remark, an evidence reference or a code column that happens to hold a resident ID number, a mobile, a
bank card or a credit code would reach the buyer unprotected. The protect stage scans every `keep` text
field and reports what it finds by entity, column, kind and source line, never the value.

What counts as a finding (each checked with python-stdnum, after NFKC so full-width digits count):
- `cn_resident_id`: 18 characters `[1-9]` + 16 digits + digit or X, not inside a longer digit run, with
  a correct GB 11643 check character and a real birth date (the region code is not checked: historic
  codes are valid on old IDs);
- `cn_mobile`: `1[3-9]` + 9 digits, optionally after `+86`/`0086` and with spaces or hyphens between
  the groups (`138 0013 8000`), not inside a longer digit run;
- `bank_card`: 16 to 19 digits, not inside a longer run, passing the Luhn check and not a resident ID;
- `cn_uscc`: 18 characters of the GB 32100 alphabet, not inside a longer alphanumeric run, with a
  correct check character (and not a resident ID).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping, FieldType, Protection

RESIDENT_ID = "cn_resident_id"
MOBILE = "cn_mobile"
BANK_CARD = "bank_card"
USCC = "cn_uscc"
MAX_LINES = 20

_RIC = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9X](?![0-9])", re.ASCII)
_MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)?86[ -]?)?(1[3-9][0-9](?:[ -]?[0-9]{4}){2})(?![0-9])", re.ASCII)
_CARD = re.compile(r"(?<![0-9])[0-9]{16,19}(?![0-9])", re.ASCII)
_USCC = re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{18}(?![0-9A-Z])", re.ASCII)
# A first pass in Arrow over each text after NFKC and upper-casing: the patterns above, lookarounds written as
# "start or a non-digit" (RE2 has none), so it finds every text the Python patterns can match, and little else.
_CANDIDATES = (r"(^|[^0-9])[1-9][0-9]{16}[0-9X]([^0-9]|$)",
               r"(^|[^0-9])((\+|00)?86[ -]?)?1[3-9][0-9]([ -]?[0-9]{4}){2}([^0-9]|$)",
               r"(^|[^0-9])[0-9]{16,19}([^0-9]|$)",
               r"(^|[^0-9A-Z])[0-9A-HJ-NPQRTUWXY]{18}([^0-9A-Z]|$)")
_ANY_CANDIDATE = "|".join(f"(?:{p})" for p in _CANDIDATES)  # one pass over the text, not four


def _valid_ric(number: str) -> bool:
    if ric.calc_check_digit(number) != number[-1]:
        return False
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return True


def _valid_uscc(code: str) -> bool:
    try:
        uscc.validate(code)
    except ValidationError:
        return False
    return True


def identifiers_in(text: str) -> set[str]:
    """The kinds of identifier found in one text (see the module docstring)."""
    norm = unicodedata.normalize("NFKC", text).upper()
    found = set()
    ids = {m.group(0) for m in _RIC.finditer(norm) if _valid_ric(m.group(0))}
    if ids:
        found.add(RESIDENT_ID)
    if _MOBILE.search(norm):
        found.add(MOBILE)
    if any(m.group(0) not in ids and luhn.is_valid(m.group(0)) for m in _CARD.finditer(norm)):
        found.add(BANK_CARD)
    if any(m.group(0) not in ids and _valid_uscc(m.group(0)) for m in _USCC.finditer(norm)):
        found.add(USCC)
    return found


@dataclass
class Finding:
    """Identifiers of one kind in one column: how many rows, and the first source lines (never values)."""

    entity: str
    column: str
    kind: str
    rows: int = 0
    source_lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-safe form for reports."""
        return {"entity": self.entity, "column": self.column, "kind": self.kind, "rows": self.rows,
                "source_lines": self.source_lines, "source_lines_shown": len(self.source_lines)}


def scanned_fields(mapping: EntityMapping) -> list[str]:
    """The fields that reach the buyer in clear as text: `keep` fields of type string."""
    return [f.target for f in mapping.fields if f.protection is Protection.KEEP and f.type is FieldType.STRING]


def scan_column(entity: str, column: str, values: pa.Array, lines: pa.Array) -> list[Finding]:
    """Findings in one text column; `lines` are the rows' source lines."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    norm = pc.utf8_upper(pc.utf8_normalize(values, "NFKC"))
    candidate = pc.fill_null(pc.match_substring_regex(norm, _ANY_CANDIDATE), False)
    counts: Counter[str] = Counter()
    shown: dict[str, list[int]] = defaultdict(list)
    for text, line in zip(values.filter(candidate).to_pylist(), lines.filter(candidate).to_pylist(), strict=True):
        for kind in identifiers_in(text):
            counts[kind] += 1
            if len(shown[kind]) < MAX_LINES:
                shown[kind].append(line)
    return [Finding(entity, column, kind, counts[kind], shown[kind]) for kind in sorted(counts)]


def scan_entity(mapping: EntityMapping, table: pa.Table) -> list[Finding]:
    """Findings in every `keep` text field of a mapped entity."""
    lines = table.column(LINE_COLUMN)
    findings = []
    for column in scanned_fields(mapping):
        findings.extend(scan_column(mapping.entity, column, table.column(column), lines))
    return findings
