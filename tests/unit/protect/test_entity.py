"""booktransfer.protect.entity.protect_entity: each field's declared protection, applied before the buyer sees it."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from booktransfer.errors import MappingError
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.apply import map_entity
from booktransfer.mapping.model import EntityMapping
from booktransfer.protect.ciphers import decrypt_value, encrypt_deterministic, token
from booktransfer.protect.entity import protect_entity, protect_rows
from booktransfer.protect.fingerprint import FINGERPRINT_COLUMN
from tests.unit.mapping.builders import CUSTOMER_COLUMNS, customer_row, example_set, raw_table
from tests.unit.protect.fixed_keys import fixed_ring

RING = fixed_ring()
AS_OF = date(2025, 12, 31)
CLEAR = ("id_number", "name", "mobile", "address")


def _mapped_customers() -> pa.Table:
    rows = [customer_row(1), customer_row(2, Mobile="")]
    return map_entity(example_set(), "customers", raw_table(CUSTOMER_COLUMNS, rows)).table


def _protect(mapping: EntityMapping, table: pa.Table):
    return protect_rows(mapping, table, RING, "t-1", AS_OF)


def test_no_clear_personal_values_left():
    """After protection no clear id_number, name, mobile or address value occurs anywhere in the output."""
    mapped = _mapped_customers()
    clear_values = {mapped.column(c)[i].as_py() for c in CLEAR for i in range(mapped.num_rows)} - {None}

    out = _protect(example_set().entities["customers"], mapped).table

    cells = [str(v) for col in out.columns for v in col.to_pylist() if v is not None]
    assert clear_values and len(clear_values) == 7
    assert not [v for v in clear_values if any(v in cell for cell in cells)]


def test_example_customers_decode_back():
    """The example mapping: id_number is the namespaced token; the encrypted columns decrypt to the mapped values."""
    mapped = _mapped_customers()
    spec = example_set().entities["customers"]

    out = _protect(spec, mapped).table

    first, got = mapped.slice(0, 1).to_pylist()[0], out.slice(0, 1).to_pylist()[0]
    assert got["id_number"] == token(RING.token_key, "cn_id_number", first["id_number"])
    encrypted = [f.target for f in spec.fields if f.protection.value.startswith("encrypt")]
    assert encrypted and all(decrypt_value(RING, c, got[c]) == first[c] for c in encrypted)
    assert out.column("mobile").to_pylist()[1] is None
    assert out.column("customer_no").to_pylist() == mapped.column("customer_no").to_pylist()
    assert out.column_names[-1] == FINGERPRINT_COLUMN and out.column(LINE_COLUMN).to_pylist() == [2, 3]


def _mapping(protection: str, **extra) -> EntityMapping:
    return EntityMapping.model_validate({
        "entity": "things", "source": {"file": "T.csv"}, "key": ["k"],
        "fields": [{"target": "k", "source": "K", "classification": "identifier", "protection": "keep"},
                   {"target": "v", "source": "V", "classification": "sensitive", "protection": protection, **extra}],
    })


def _things(values: list) -> pa.Table:
    return pa.table({"k": [f"k{i}" for i in range(len(values))], "v": values,
                     LINE_COLUMN: pa.array(range(2, 2 + len(values)), pa.int64())})


def test_encrypt_token_adds_blind_index():
    """encrypt+token keeps a ciphertext in the column and adds <column>_token with the namespaced token."""
    result = _protect(_mapping("encrypt+token", token_namespace="ns_v"), _things(["secret-1", None]))
    out = result.table

    assert out.column_names == ["k", "v", LINE_COLUMN, "v_token", FINGERPRINT_COLUMN]
    assert out.column("v_token").to_pylist() == [token(RING.token_key, "ns_v", "secret-1"), None]
    assert decrypt_value(RING, "v", out.column("v")[0].as_py()) == "secret-1"
    assert result.columns["v"] == {"protection": "encrypt+token", "values": 1, "scheme": "aes-256-gcm:enc-kat",
                                   "token_key": "tok-kat", "namespace": "ns_v"}


def test_deterministic_encrypt_uses_aes_siv():
    """deterministic: true gives AES-SIV ciphertexts: equal values equal, decryptable, reported with the key id."""
    result = _protect(_mapping("encrypt", deterministic=True), _things(["13900000001", "13900000001", None]))
    column = result.table.column("v").to_pylist()

    assert column[0] == column[1] == encrypt_deterministic(RING, "v", ["13900000001"])[0] and column[2] is None
    assert decrypt_value(RING, "v", column[0]) == "13900000001"
    assert result.columns["v"]["scheme"] == "aes-siv:siv-kat"


def test_drop_removes_column():
    """drop removes the column entirely (and the fingerprint does not cover it)."""
    out = _protect(_mapping("drop"), _things(["x"])).table

    assert out.column_names == ["k", LINE_COLUMN, FINGERPRINT_COLUMN]


def test_token_without_namespace_uses_column_name():
    """A token field without token_namespace is namespaced by its target column."""
    out = _protect(_mapping("token"), _things(["x"])).table

    assert out.column("v").to_pylist() == [token(RING.token_key, "v", "x")]


def test_generalize_birth_date_to_age_band_and_address_to_city():
    """generalize replaces the value by its year, band or city and reports unresolved values."""
    mapping = EntityMapping.model_validate({
        "entity": "people", "source": {"file": "P.csv"}, "key": ["k"],
        "fields": [{"target": "k", "source": "K", "classification": "identifier", "protection": "keep"},
                   {"target": "born", "source": "B", "type": "date", "format": "%Y%m%d",
                    "classification": "personal", "protection": "generalize", "generalize": "age_band"},
                   {"target": "born_year", "source": "B", "type": "date", "format": "%Y%m%d",
                    "classification": "personal", "protection": "generalize", "generalize": "year"},
                   {"target": "address", "source": "A", "classification": "personal", "protection": "generalize",
                    "generalize": "city"}],
    })
    births = pa.array([date(1980, 6, 1), date(2015, 1, 1)], pa.date32())
    table = pa.table({"k": ["a", "b"], "born": births, "born_year": births,
                      "address": ["浙江省杭州市西湖区文三路1号", "文三路2号"], LINE_COLUMN: [2, 3]})

    result = _protect(mapping, table)

    assert result.table.column("born").to_pylist() == ["45-49", "00-13"]
    assert result.table.column("born_year").to_pylist() == [1980, 2015]
    assert result.table.column("address").to_pylist() == ["浙江省杭州市", None]
    assert result.columns["address"] == {"protection": "generalize", "rule": "city", "unresolved": 1}


def test_keep_field_with_an_id_number_is_reported():
    """An ID number in a keep field is reported by column, kind and source line; the value is not in the report."""
    mapping = _mapping("keep", allow_clear="test: a remark kept in clear")
    result = _protect(mapping, _things(["正常", "身份证11010519491231002X"]))

    summary = result.summary()

    assert [(f["column"], f["kind"], f["rows"], f["source_lines"]) for f in summary["identifier_findings"]] == [
        ("v", "cn_resident_id", 1, [3])]
    assert "11010519491231002X" not in repr(summary)


def test_reserved_fingerprint_column_refused():
    """A mapping that names a field row_fingerprint is refused rather than overwritten."""
    mapping = EntityMapping.model_validate({
        "entity": "things", "source": {"file": "T.csv"}, "key": ["k"],
        "fields": [{"target": "k", "source": "K", "classification": "identifier", "protection": "keep"},
                   {"target": FINGERPRINT_COLUMN, "source": "V", "classification": "public", "protection": "keep"}],
    })
    table = pa.table({"k": ["a"], FINGERPRINT_COLUMN: ["x"], LINE_COLUMN: [2]})

    with pytest.raises(MappingError, match="'row_fingerprint' is reserved"):
        _protect(mapping, table)


def test_rows_without_source_lines_refused():
    """Rows that lost their source line cannot be fingerprinted and are refused."""
    with pytest.raises(MappingError, match="source line"):
        _protect(_mapping("token"), pa.table({"k": ["a"], "v": ["x"]}))


def test_protect_entity_gives_the_protected_table_for_previews():
    """protect_entity (previews) returns the same protected columns as protect_rows, fingerprints included."""
    mapped = _mapped_customers()
    spec = example_set().entities["customers"]

    table = protect_entity(spec, mapped, RING, "t-1", AS_OF)

    full = protect_rows(spec, mapped, RING, "t-1", AS_OF).table
    assert table.column_names == full.column_names
    assert table.column(FINGERPRINT_COLUMN).equals(full.column(FINGERPRINT_COLUMN))
    assert table.column("id_number").equals(full.column("id_number"))
