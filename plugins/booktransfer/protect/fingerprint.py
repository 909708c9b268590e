"""Row fingerprints: an HMAC under the audit key over a canonical serialization of each mapped row.

The protect stage fingerprints every row before it protects it and carries the fingerprint with the row
(the `row_fingerprint` column of the protected staging file and of the buyer's table). Reconciliation
compares the rows it reads back from the target, decrypted and serialized (`buyer_tails`), with the
serialization the fingerprint was taken over (`mapped_tails`): equal bytes mean the row arrived as it was
mapped and re-fingerprints to its fingerprint (`fingerprint_buyer_table` / `fingerprint_buyer_row` do that,
for an audit).

The canonical serialization (`booktransfer-row/1`), exactly:

1. The fingerprinted fields are the mapping's fields in mapping order, except `drop` fields. For each,
   the value is the one the buyer can recover: the clear value for `keep`, `encrypt` and
   `encrypt+token` (decrypted; the `<column>_token` blind index is not a field); the stored value for
   `token` (the HMAC token) and `generalize` (the year, band or city).
2. Each value becomes text, or JSON null when absent, by the field's declared type (`token` and
   `generalize` values by their own type):
   - string: the text as is (no trimming, no Unicode normalization);
   - date: `YYYY-MM-DD`; timestamp: ISO 8601 `YYYY-MM-DDTHH:MM:SS`, `.ffffff` only when the microseconds
     are not zero, `+HH:MM` only for a zone-aware value;
   - decimal: plain notation without exponent and without trailing zeros (`3650.00` -> `3650`,
     `0.50` -> `0.5`, `-0` -> `0`); integer: decimal digits.
   A decimal or date that comes back from a database as text, float or `datetime` is read as its type first.
3. The row is the JSON array `["booktransfer-row/1", transfer_id, entity, source_line,
   [[field, value], ...]]`, written by Python's `json.dumps(..., ensure_ascii=False,
   separators=(",", ":"))`, encoded as UTF-8.
4. The fingerprint is the lowercase hex HMAC-SHA256 of those bytes under the keyring's audit key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from booktransfer.errors import AuthenticationFailed, KeyringError
from booktransfer.mapping.model import EntityMapping, FieldSpec, FieldType, Protection
from booktransfer.protect.ciphers import decrypt_value, hmac_sha256_hex

if TYPE_CHECKING:
    import pyarrow as pa

    from booktransfer.protect.keyring import Keyring

FINGERPRINT_COLUMN = "row_fingerprint"
ROW_FORMAT = "booktransfer-row/1"
_CLEAR_IN_TARGET = (Protection.KEEP,)
_DECRYPTED = (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN)


def fingerprint_fields(mapping: EntityMapping) -> list[FieldSpec]:
    """The fields a fingerprint covers, in mapping order: every field except `drop` ones."""
    return [f for f in mapping.fields if f.protection is not Protection.DROP]


def value_kind(field: FieldSpec) -> FieldType | None:
    """The type a field's fingerprinted value is canonicalized as (None: by the value's own type)."""
    return None if field.protection in (Protection.TOKEN, Protection.GENERALIZE) else field.type


def _decimal_text(value: Any) -> str:
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError("not a decimal") from None
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _date_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)[:10]).isoformat()


def _timestamp_text(value: Any) -> str:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp.isoformat()


def _by_python_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return _timestamp_text(value)
    if isinstance(value, date):
        return _date_text(value)
    return str(value)


_BY_KIND = {FieldType.STRING: str, FieldType.DATE: _date_text, FieldType.TIMESTAMP: _timestamp_text,
            FieldType.DECIMAL: _decimal_text, FieldType.INTEGER: lambda v: str(int(Decimal(str(v))))}


def canonical_value(value: Any, kind: FieldType | None) -> str | None:
    """One value's canonical text (step 2 of the module docstring); None for an absent value."""
    if value is None:
        return None
    return _BY_KIND[kind](value) if kind is not None else _by_python_type(value)


def canonical_row(transfer_id: str, entity: str, source_line: int, values: Iterable[tuple[str, str | None]]) -> bytes:
    """The canonical serialization of one row (step 3 of the module docstring)."""
    doc = [ROW_FORMAT, transfer_id, entity, int(source_line), [[name, value] for name, value in values]]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fingerprint(audit_key: bytes, payload: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of a canonical row under the audit key."""
    return hmac.new(audit_key, payload, hashlib.sha256).hexdigest()


def _decimal_texts(values: pa.Array) -> pa.Array:
    """Arrow's plain decimal text without trailing zeros (what `_decimal_text` gives, vectorized)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = values.cast(pa.string())
    if values.type.scale > 0:  # every text has a point: trailing zeros, then a bare point, go ("3650.00" -> "3650")
        text = pc.utf8_rtrim(pc.utf8_rtrim(text, characters="0"), characters=".")
    elif values.type.scale < 0:  # Arrow prints an exponent: the row-wise rule
        return pa.array([canonical_value(v, FieldType.DECIMAL) for v in values.to_pylist()], pa.string())
    return pc.if_else(pc.equal(text, "-0"), pa.scalar("0"), text)


def canonical_column(values: pa.Array, kind: FieldType | None) -> pa.Array:
    """A column's canonical texts (step 2 of the module docstring), vectorized where Arrow's text is canonical."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = values.type
    if kind in (FieldType.STRING, None) and pa.types.is_string(t):
        return values
    if kind in (FieldType.DATE, None) and pa.types.is_date(t):
        return values.cast(pa.string())
    if kind in (FieldType.INTEGER, None) and pa.types.is_integer(t):
        return values.cast(pa.string())
    if kind in (FieldType.DECIMAL, None) and pa.types.is_decimal(t):
        return _decimal_texts(values)
    if kind in (FieldType.TIMESTAMP, None) and pa.types.is_timestamp(t) and t.tz is None:
        seconds = _whole_seconds(values)  # Parquet keeps second timestamps as milliseconds
        if seconds is not None:
            return pc.replace_substring(seconds.cast(pa.string()), " ", "T")
    return pa.array([canonical_value(v, kind) for v in values.to_pylist()], pa.string())


def _whole_seconds(values: pa.Array) -> pa.Array | None:
    """The timestamps at second precision when none has a fraction of a second (else None)."""
    import pyarrow as pa

    if values.type.unit == "s":
        return values
    try:
        return values.cast(pa.timestamp("s"), safe=True)
    except pa.ArrowInvalid:  # some value has a fraction: isoformat prints it, the slow path does too
        return None


def _plain(texts: pa.Array) -> bool:
    """True when no text holds a byte JSON escapes: a quote, a backslash or a control character (one pass over the
    array's UTF-8 bytes; every byte of a multi-byte character is 0x80 or above, so none is mistaken for one)."""
    import numpy as np
    import pyarrow as pa

    if len(texts) == texts.null_count:
        return True
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(texts.buffers()[1], width)[texts.offset:texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
    return not ((data < 0x20).any() or (data == 0x22).any() or (data == 0x5C).any())


def _json_strings(texts: pa.Array, plain: bool | None = None) -> pa.Array:
    """Each text as a JSON string exactly as `json.dumps(..., ensure_ascii=False)` writes it; null as `null`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (_plain(texts) if plain is None else plain):  # a quote, a backslash or a control character: escape
        if pc.any(pc.fill_null(pc.match_substring_regex(texts, r"[\x00-\x1f]"), False)).as_py():
            return pa.array([json.dumps(v, ensure_ascii=False) for v in texts.to_pylist()], pa.string())
        texts = pc.replace_substring(pc.replace_substring(texts, "\\", "\\\\"), '"', '\\"')
    return pc.fill_null(pc.binary_join_element_wise('"', texts, '"', ""), "null")


def canonical_head(transfer_id: str, entity: str) -> bytes:
    """The bytes every canonical row of an entity starts with (up to its source line)."""
    return (json.dumps([ROW_FORMAT, transfer_id, entity], ensure_ascii=False, separators=(",", ":"))[:-1]
            + ",").encode("utf-8")


def canonical_tails(lines: pa.Array, columns: list[tuple[str, pa.Array]]) -> pa.Array:
    """Each row's canonical text after `canonical_head` (Arrow string kernels, one join over all the columns).

    A column without nulls and without a character to escape goes into the join as it is, between literal
    quotes; any other through `_json_strings`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces: list[Any] = [lines.cast(pa.string()), ",["]
    for i, (name, texts) in enumerate(columns):
        opening = ("," if i else "") + "[" + json.dumps(name, ensure_ascii=False) + ","
        plain = _plain(texts)
        if plain and texts.null_count == 0:
            pieces += [opening + '"', texts, '"]']
        else:
            pieces += [opening, _json_strings(texts, plain), "]"]
    pieces.append("]]")
    merged: list[Any] = []
    for piece in pieces:  # adjacent literals as one
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*merged, "")


def canonical_rows(transfer_id: str, entity: str, lines: pa.Array, columns: list[tuple[str, pa.Array]]) -> pa.Array:
    """`canonical_row` for a whole table at once (Arrow string kernels); each row's text, not yet encoded."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(canonical_head(transfer_id, entity).decode("utf-8"),
                                       canonical_tails(lines, columns), "")


def mapped_tails(mapping: EntityMapping, clear: pa.Table, protected: pa.Table, lines: pa.Array) -> pa.Array:
    """The canonical rows (after `canonical_head`) of mapped rows: clear values from `clear`, token and generalized
    values from `protected` (both in the same row order as `lines`)."""
    columns = []
    for field in fingerprint_fields(mapping):
        source = protected if field.protection in (Protection.TOKEN, Protection.GENERALIZE) else clear
        columns.append((field.target, canonical_column(source.column(field.target).combine_chunks(),
                                                       value_kind(field))))
    return canonical_tails(lines, columns)


def fingerprint_table(ring: Keyring, transfer_id: str, mapping: EntityMapping, clear: pa.Table,
                      protected: pa.Table, lines: list[int]) -> list[str]:
    """Fingerprints of mapped rows: clear values from `clear`, token and generalized values from `protected`."""
    import pyarrow as pa

    tails = mapped_tails(mapping, clear, protected, pa.array(lines, pa.int64()))
    return fingerprint_texts(ring.audit_key, tails, canonical_head(transfer_id, mapping.entity))


def fingerprint_texts(audit_key: bytes, texts: pa.Array, prefix: bytes = b"") -> list[str]:
    """`fingerprint` of `prefix` + each text (an Arrow string array: its UTF-8 bytes as they are); the prefix is
    hashed once, not once per row."""
    import pyarrow as pa

    return list(map(hmac_sha256_hex(audit_key, prefix), texts.cast(pa.binary()).to_pylist()))


def _buyer_value(ring: Keyring, field: FieldSpec, row: Mapping[str, Any]) -> str | None:
    value = row[field.target]
    if field.protection in _DECRYPTED and value is not None:
        value = decrypt_value(ring, field.target, value)
    return canonical_value(value, value_kind(field))


def fingerprint_buyer_row(ring: Keyring, transfer_id: str, mapping: EntityMapping, row: Mapping[str, Any]) -> str:
    """The fingerprint of one row as read back from the buyer's table (decrypting what was encrypted).

    `row` maps buyer column names to values and holds `source_line`. A ciphertext that fails
    authentication stops with `AuthenticationFailed` naming the column and source line.
    """
    try:
        values = [(f.target, _buyer_value(ring, f, row)) for f in fingerprint_fields(mapping)]
    except AuthenticationFailed as e:
        raise AuthenticationFailed(f"{mapping.entity} source line {row['source_line']}: {e}") from None
    except KeyringError as e:
        raise type(e)(f"{mapping.entity} source line {row['source_line']}: {e}") from None
    return fingerprint(ring.audit_key, canonical_row(transfer_id, mapping.entity, row["source_line"], values))


def _clear_texts(ring: Keyring, mapping: EntityMapping, field: FieldSpec, values: pa.Array,
                 lines: pa.Array) -> pa.Array:
    """An encrypted column decrypted (a ciphertext that fails stops, naming column and source line)."""
    import pyarrow as pa

    from booktransfer.protect.ciphers import decrypt_column

    texts = values.cast(pa.string()).to_pylist()
    clear, failed = decrypt_column(ring, field.target, texts)
    if failed is not None:
        line = lines[failed].as_py()
        try:
            decrypt_value(ring, field.target, texts[failed])
        except (AuthenticationFailed, KeyringError) as e:
            raise type(e)(f"{mapping.entity} source line {line}: {e}") from None
        raise AuthenticationFailed(f"{mapping.entity} source line {line}: column {field.target}: "
                                   "not a booktransfer ciphertext") from None
    return pa.array(clear, pa.string())


def buyer_tails(ring: Keyring, mapping: EntityMapping, rows: pa.Table) -> pa.Array:
    """The canonical rows (after `canonical_head`) of rows read back from the buyer (columns typed as the protect
    stage staged them, `source_line` included), ciphertexts decrypted: what `fingerprint_buyer_table` hashes."""
    import pyarrow as pa

    lines = rows.column("source_line").combine_chunks()
    columns = []
    for field in fingerprint_fields(mapping):
        values = rows.column(field.target).combine_chunks()
        kind = value_kind(field)
        if field.protection in _DECRYPTED:
            values = _clear_texts(ring, mapping, field, values, lines)
            if kind not in (FieldType.STRING, None):  # a decrypted date or number, canonical by its type
                values = pa.array([canonical_value(v, kind) for v in values.to_pylist()], pa.string())
                kind = FieldType.STRING
        columns.append((field.target, canonical_column(values, kind)))
    return canonical_tails(lines, columns)


def fingerprint_buyer_table(ring: Keyring, transfer_id: str, mapping: EntityMapping, rows: pa.Table) -> list[str]:
    """`fingerprint_buyer_row` for a whole table read back from the buyer, vectorised: Arrow canonical texts
    (`buyer_tails`), one HMAC per row."""
    return fingerprint_texts(ring.audit_key, buyer_tails(ring, mapping, rows),
                             canonical_head(transfer_id, mapping.entity))


def mismatched_lines(ring: Keyring, transfer_id: str, mapping: EntityMapping,
                     rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Source lines of buyer rows whose stored `row_fingerprint` differs from their recomputed one."""
    return [row["source_line"] for row in rows
            if not hmac.compare_digest(str(row.get(FINGERPRINT_COLUMN) or ""),
                                       fingerprint_buyer_row(ring, transfer_id, mapping, row))]
