"""booktransfer.protect.entity.protect_entity: each field's declared protection, applied before the buyer sees it."""

from __future__ import annotations

import pyarrow as pa
import pytest

from booktransfer.errors import MappingError
from booktransfer.mapping.apply import map_entity
from booktransfer.mapping.model import EntityMapping
from booktransfer.protect.ciphers import decrypt_value, token
from booktransfer.protect.entity import protect_entity
from booktransfer.protect.keyring import Keyring
from tests.unit.mapping.builders import CUSTOMER_COLUMNS, customer_row, example_set, raw_table

RING = Keyring("tok-1", b"\x05" * 32, "enc-1", {"enc-1": b"\x06" * 32})
CLEAR = ("id_number", "name", "mobile", "address")


def _mapped_customers():
    rows = [customer_row(1), customer_row(2, Mobile="")]
    return map_entity(example_set(), "customers", raw_table(CUSTOMER_COLUMNS, rows)).table


def test_no_clear_personal_values_left():
    """After protection no clear id_number, name, mobile or address value occurs anywhere in the output."""
    mapped = _mapped_customers()
    clear_values = {mapped.column(c)[i].as_py() for c in CLEAR for i in range(mapped.num_rows)} - {None}

    out = protect_entity(example_set().entities["customers"], mapped, RING)

    cells = [str(v) for col in out.columns for v in col.to_pylist() if v is not None]
    assert clear_values and len(clear_values) == 7
    assert not [v for v in clear_values if any(v in cell for cell in cells)]


def test_protected_columns_decode_back():
    """id_number holds the namespaced token; name/mobile/address decrypt to the mapped values; nulls stay null."""
    mapped = _mapped_customers()

    out = protect_entity(example_set().entities["customers"], mapped, RING)

    assert out.column_names == mapped.column_names
    first = mapped.slice(0, 1).to_pylist()[0]
    got = out.slice(0, 1).to_pylist()[0]
    assert got["id_number"] == token(RING.token_key, "cn_id_number", first["id_number"])
    for col in ("name", "mobile", "address"):
        assert decrypt_value(RING, col, got[col]) == first[col]
    assert out.column("mobile").to_pylist()[1] is None
    assert out.column("customer_no").to_pylist() == mapped.column("customer_no").to_pylist()
    assert out.column("birth_date").to_pylist() == mapped.column("birth_date").to_pylist()


def _mapping(protection: str, **extra) -> EntityMapping:
    return EntityMapping.model_validate({
        "entity": "things", "source": {"file": "T.csv"}, "key": ["k"],
        "fields": [{"target": "k", "source": "K", "classification": "identifier", "protection": "keep"},
                   {"target": "v", "source": "V", "classification": "sensitive", "protection": protection, **extra}],
    })


def test_encrypt_token_adds_blind_index():
    """encrypt+token keeps a ciphertext in the column and adds <column>_token with the namespaced token."""
    table = pa.table({"k": ["a", "b"], "v": ["secret-1", None]})

    out = protect_entity(_mapping("encrypt+token", token_namespace="ns_v"), table, RING)

    assert out.column_names == ["k", "v", "v_token"]
    assert out.column("v_token").to_pylist() == [token(RING.token_key, "ns_v", "secret-1"), None]
    assert decrypt_value(RING, "v", out.column("v")[0].as_py()) == "secret-1"


def test_drop_removes_column():
    """drop removes the column entirely."""
    out = protect_entity(_mapping("drop"), pa.table({"k": ["a"], "v": ["x"]}), RING)

    assert out.column_names == ["k"]


def test_token_without_namespace_uses_column_name():
    """A token field without token_namespace is namespaced by its target column."""
    out = protect_entity(_mapping("token"), pa.table({"k": ["a"], "v": ["x"]}), RING)

    assert out.column("v").to_pylist() == [token(RING.token_key, "v", "x")]


def test_unimplemented_protection_refused():
    """generalize is not implemented and stops rather than passing the value in clear."""
    with pytest.raises(MappingError, match="things.v: protection generalize"):
        protect_entity(_mapping("generalize"), pa.table({"k": ["a"], "v": ["x"]}), RING)
