"""Reading protected columns back from the buyer's tables: for the buyer's key holder, to verify or migrate onward.

Every ciphertext is authenticated as it is decrypted; the first one that fails (tampered, moved from
another column or row, unknown key id, wrong key) stops everything with an error that names the table,
the column and the row's source line, and nothing is written. Row fingerprints, where the table holds
them, are recomputed from the decrypted rows and compared.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from booktransfer.errors import BookTransferError, KeyringError, LoadError
from booktransfer.mapping.model import EntityMapping, Protection
from booktransfer.protect.ciphers import decrypt_value
from booktransfer.protect.fingerprint import FINGERPRINT_COLUMN, fingerprint_fields, mismatched_lines
from booktransfer.protect.keyring import Keyring

LINE = "source_line"


@dataclass(frozen=True)
class DecryptedTable:
    """Rows of one buyer table for one transfer, with the requested columns decrypted."""

    table: str
    columns: list[str]
    decrypted: list[str]
    rows: list[dict[str, Any]]


def encrypted_columns(mapping: EntityMapping) -> list[str]:
    """The columns of an entity that hold ciphertexts (`encrypt` and `encrypt+token` fields)."""
    return [f.target for f in mapping.fields if f.protection in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN)]


def key_columns(engine: sa.Engine, table: str) -> list[str]:
    """The table's primary key without `transfer_id`, then `source_line`: what identifies an output row."""
    pk = sa.inspect(engine).get_pk_constraint(table).get("constrained_columns") or []
    return [c for c in pk if c != "transfer_id"] + [LINE]


def read_rows(engine: sa.Engine, table: str, transfer_id: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The given columns of one transfer's rows, in source line order."""
    target = sa.Table(table, sa.MetaData(), autoload_with=engine)
    unknown = [c for c in columns if c not in target.c]
    if unknown:
        raise LoadError(f"table {table}: no column(s) {', '.join(unknown)}")
    query = sa.select(*(target.c[c] for c in columns)).where(target.c.transfer_id == transfer_id)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query.order_by(target.c[LINE]))]
    return rows


def decrypt_rows(ring: Keyring, table: str, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """Decrypt `columns` of every row in place; the first failure stops, naming table, column and source line."""
    for row in rows:
        for column in columns:
            if row[column] is None:
                continue
            try:
                row[column] = decrypt_value(ring, column, row[column])
            except KeyringError as e:
                raise type(e)(f"table {table}, source line {row.get(LINE)}: {e}") from None


def decrypt_table(engine: sa.Engine, ring: Keyring, table: str, transfer_id: str, decrypt: Sequence[str],
                  carry: Sequence[str] | None = None) -> DecryptedTable:
    """Read one transfer's rows of a buyer table and decrypt `decrypt`; `carry` columns pass as they are."""
    carry = list(carry) if carry is not None else key_columns(engine, table)
    columns = list(dict.fromkeys([*carry, *decrypt, LINE]))
    rows = read_rows(engine, table, transfer_id, columns)
    decrypt_rows(ring, table, rows, decrypt)
    shown = list(dict.fromkeys([*carry, *decrypt]))
    return DecryptedTable(table, shown, list(decrypt), rows)


def verify_fingerprints(engine: sa.Engine, ring: Keyring, mapping: EntityMapping, transfer_id: str) -> dict[str, Any]:
    """Recompute every row's fingerprint from the buyer table (decrypting) and compare with the stored one."""
    columns = [f.target for f in fingerprint_fields(mapping)] + [LINE, FINGERPRINT_COLUMN]
    rows = read_rows(engine, mapping.entity, transfer_id, columns)
    bad = mismatched_lines(ring, transfer_id, mapping, rows)
    return {"rows": len(rows), "fingerprints_match": len(rows) - len(bad), "mismatched_source_lines": bad[:50],
            "mismatched": len(bad)}


def to_csv(result: DecryptedTable) -> str:
    """The decrypted rows as CSV text (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if row[c] is None else row[c] for c in result.columns])
    return buffer.getvalue()


def write_private(path: Path, text: str) -> Path:
    """Write clear output readable by its owner only (mode 600), atomically; never over an existing file."""
    if path.exists():
        raise BookTransferError(f"{path} exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    tmp.replace(path)
    return path
