"""Protect: apply each field's declared protection before anything reaches the buyer, and fingerprint each row.

| protection      | the buyer's column holds                                                      |
|-----------------|-------------------------------------------------------------------------------|
| `keep`          | the clear value (scanned for identifiers that should not be there)            |
| `token`         | the keyed HMAC-SHA256 token (namespace `token_namespace`, else the column)    |
| `encrypt`       | an AES-256-GCM ciphertext, or AES-SIV with `deterministic: true`              |
| `encrypt+token` | the ciphertext, plus a blind-index token in `<column>_token`                  |
| `generalize`    | the year, age band or city (`booktransfer.protect.generalize`)                |
| `drop`          | nothing: the column is removed                                                |

Every row also gets `row_fingerprint` (`booktransfer.protect.fingerprint`), computed from the row before
protection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from booktransfer.errors import MappingError
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping, FieldSpec, Protection
from booktransfer.protect.ciphers import encrypt_deterministic, encrypt_values, tokens
from booktransfer.protect.fingerprint import FINGERPRINT_COLUMN, fingerprint_table
from booktransfer.protect.generalize import generalize_column
from booktransfer.protect.identifier_scan import Finding, scan_entity
from booktransfer.protect.keyring import KeyPurpose, Keyring


@dataclass(frozen=True)
class ProtectedEntity:
    """The protected rows of one entity and what was done to them (counts and key ids, never values)."""

    table: pa.Table
    columns: dict[str, dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-safe summary for `protect.json` and XCom."""
        return {"rows": self.table.num_rows, "columns": self.columns,
                "identifier_findings": [f.as_dict() for f in self.findings]}


def _texts(table: pa.Table, name: str) -> list[str | None]:
    return table.column(name).cast(pa.string()).to_pylist()


def _encrypt(spec: FieldSpec, ring: Keyring, values: list[str | None]) -> tuple[list[str | None], str]:
    if spec.deterministic:
        out = encrypt_deterministic(ring, spec.target, values)
        return out, f"aes-siv:{ring.keyset(KeyPurpose.DETERMINISTIC).active}"
    return encrypt_values(ring, spec.target, values), f"aes-256-gcm:{ring.active_kid}"


def _protect_field(spec: FieldSpec, table: pa.Table, ring: Keyring, as_of: date) -> tuple[pa.Table, dict[str, Any]]:
    """Apply one field's protection; returns the new table and the field's summary."""
    name = spec.target
    idx = table.column_names.index(name)
    kind = spec.protection
    if kind is Protection.DROP:
        return table.drop_columns([name]), {"protection": kind.value}
    if kind is Protection.GENERALIZE:
        done = generalize_column(table.column(name), spec.generalize, as_of, name)  # type: ignore[arg-type]
        info = {"protection": kind.value, "rule": spec.generalize.value, "unresolved": done.unresolved}
        return table.set_column(idx, name, done.values), info
    values = _texts(table, name)
    present = sum(v is not None for v in values)
    namespace = spec.token_namespace or name
    if kind is Protection.TOKEN:
        column = pa.array(tokens(ring.token_key, namespace, values), pa.string())
        return table.set_column(idx, name, column), {"protection": kind.value, "values": present,
                                                     "token_key": ring.token_kid, "namespace": namespace}
    if kind in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN):
        sealed, scheme = _encrypt(spec, ring, values)
        out = table.set_column(idx, name, pa.array(sealed, pa.string()))
        info = {"protection": kind.value, "values": present, "scheme": scheme}
        if kind is Protection.ENCRYPT_TOKEN:
            out = out.append_column(f"{name}_token", pa.array(tokens(ring.token_key, namespace, values), pa.string()))
            info |= {"token_key": ring.token_kid, "namespace": namespace}
        return out, info
    raise MappingError(f"{name}: protection {kind} is not implemented")


def protect_rows(mapping: EntityMapping, table: pa.Table, ring: Keyring, transfer_id: str,
                 as_of: date) -> ProtectedEntity:
    """Protect one entity's valid rows and fingerprint each row (from its clear values); with a summary."""
    if FINGERPRINT_COLUMN in table.column_names or any(f.target == FINGERPRINT_COLUMN for f in mapping.fields):
        raise MappingError(f"{mapping.entity}: '{FINGERPRINT_COLUMN}' is reserved for row fingerprints")
    if LINE_COLUMN not in table.column_names:
        raise MappingError(f"{mapping.entity}: rows without their source line ({LINE_COLUMN}) cannot be fingerprinted")
    findings = scan_entity(mapping, table)
    out, columns = table, {}
    for spec in mapping.fields:
        if spec.protection is Protection.KEEP:
            continue
        try:
            out, columns[spec.target] = _protect_field(spec, out, ring, as_of)
        except MappingError as e:
            raise MappingError(f"{mapping.entity}: {e}") from None
    lines = table.column(LINE_COLUMN).to_pylist()
    prints = fingerprint_table(ring, transfer_id, mapping, table, out, lines)
    out = out.append_column(FINGERPRINT_COLUMN, pa.array(prints, pa.string()))
    return ProtectedEntity(out, columns, findings)


def default_as_of() -> date:
    """The as-of date when a run names none: today in Beijing, the seller's time zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def protect_entity(mapping: EntityMapping, table: pa.Table, ring: Keyring, transfer_id: str = "preview",
                   as_of: date | None = None) -> pa.Table:
    """The protected rows only (previews); `as_of` defaults to `default_as_of()`."""
    return protect_rows(mapping, table, ring, transfer_id, as_of or default_as_of()).table
