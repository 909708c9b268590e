"""booktransfer.mapping.model and loader: what a mapping set may say, and errors that name the file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from booktransfer.errors import MappingError
from booktransfer.mapping.loader import load_mapping_set
from booktransfer.mapping.model import EntityMapping, FieldSpec, IgnoredColumn
from tests.unit.mapping.builders import EXAMPLE_SET


def _copy_set(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    shutil.copytree(EXAMPLE_SET, root)
    return root


def _edit(path: Path, change: Callable[[dict], None]) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _field(doc: dict, target: str) -> dict:
    return next(f for f in doc["fields"] if f["target"] == target)


def test_example_set_loads():
    """The shipped example set loads: version 1.0.0, four entities in load order, its code tables."""
    mapping_set = load_mapping_set(EXAMPLE_SET)

    assert mapping_set.version == "1.0.0"
    assert list(mapping_set.entities) == ["customers", "policies", "policy_parties", "consents"]
    assert {"gender", "product", "consent_purpose"} <= set(mapping_set.codes)


@pytest.mark.parametrize("classification", ["sensitive", "personal"])
def test_clear_personal_field_without_reason_names_file(tmp_path, classification):
    """A sensitive or personal field kept in clear without allow_clear stops the load, naming the file."""
    root = _copy_set(tmp_path)

    def keep_clear(doc):
        spec = _field(doc, "mobile")
        spec.update(classification=classification, protection="keep")
        spec.pop("allow_clear", None)

    _edit(root / "customers.yaml", keep_clear)

    with pytest.raises(MappingError, match="allow_clear") as err:
        load_mapping_set(root)
    assert str(root / "customers.yaml") in str(err.value)


def test_clear_personal_field_with_reason_is_allowed():
    """allow_clear with a reason lets a personal field stay in clear."""
    spec = FieldSpec(target="gender", source="Sex", classification="personal", protection="keep",
                     allow_clear="Needed for rating.")

    assert spec.allow_clear == "Needed for rating."


def test_duplicate_target_is_refused(tmp_path):
    """Two fields mapping to the same target column are refused, naming the column."""
    root = _copy_set(tmp_path)
    _edit(root / "policies.yaml", lambda d: d["fields"].append(dict(_field(d, "status"), source="ContNo")))

    with pytest.raises(MappingError, match="mapped twice: status") as err:
        load_mapping_set(root)
    assert "policies.yaml" in str(err.value)


def test_key_must_be_mapped():
    """A key column that no field fills is refused."""
    field = FieldSpec(target="a", source="A", classification="public", protection="keep")

    with pytest.raises(ValidationError, match="key columns not mapped: b"):
        EntityMapping(entity="e", source={"file": "E.csv"}, key=("b",), fields=(field,))


def test_reference_to_later_entity_is_refused(tmp_path):
    """A field may only reference an entity listed before its own in mapping_set.yaml."""
    root = _copy_set(tmp_path)
    _edit(root / "mapping_set.yaml",
          lambda d: d.update(entities=["policies", "customers", "policy_parties", "consents"]))

    with pytest.raises(MappingError, match="listed before") as err:
        load_mapping_set(root)
    assert "policies.yaml" in str(err.value)
    assert "holder_customer_no" in str(err.value)


def test_reference_to_unknown_column_is_refused(tmp_path):
    """A reference to a column the parent entity does not map is refused."""
    root = _copy_set(tmp_path)
    _edit(root / "policies.yaml", lambda d: _field(d, "holder_customer_no").update(references="customers.nope"))

    with pytest.raises(MappingError, match="unknown column customers.nope"):
        load_mapping_set(root)


def test_unknown_normalizer_is_refused(tmp_path):
    """A transform name outside the closed registry is refused by the model, naming file and field."""
    root = _copy_set(tmp_path)
    _edit(root / "customers.yaml", lambda d: _field(d, "name").update(normalize=["trim", "nfkc"]))

    with pytest.raises(MappingError, match="normalize") as err:
        load_mapping_set(root)
    assert "customers.yaml" in str(err.value)


def test_short_ignored_reason_is_refused():
    """An ignored column needs a reason of at least ten characters."""
    with pytest.raises(ValidationError, match="at least 10"):
        IgnoredColumn(column="MakeDate", reason="unused")


def test_column_both_mapped_and_ignored_is_refused(tmp_path):
    """A source column cannot be both mapped and ignored."""
    root = _copy_set(tmp_path)
    _edit(root / "customers.yaml",
          lambda d: d["ignored"].append({"column": "Mobile", "reason": "Not needed by the buyer at all."}))

    with pytest.raises(MappingError, match="both mapped and ignored: Mobile"):
        load_mapping_set(root)


def test_date_field_needs_format():
    """A date field without a format is refused."""
    with pytest.raises(ValidationError, match="needs a 'format'"):
        FieldSpec(target="d", source="D", type="date", classification="public", protection="keep")


def test_field_needs_exactly_one_of_source_or_const():
    """A field with both source and const (or neither) is refused."""
    with pytest.raises(ValidationError, match="exactly one"):
        FieldSpec(target="d", source="D", const="x", classification="public", protection="keep")
    with pytest.raises(ValidationError, match="exactly one"):
        FieldSpec(target="d", classification="public", protection="keep")


def test_entity_name_must_match_file(tmp_path):
    """An entity file whose 'entity' differs from its listed name is refused."""
    root = _copy_set(tmp_path)
    _edit(root / "consents.yaml", lambda d: d.update(entity="consent_events"))

    with pytest.raises(MappingError, match="expected 'consents'"):
        load_mapping_set(root)


def test_missing_code_table_names_path(tmp_path):
    """A lookup naming a code table with no file stops the load, naming the missing file."""
    root = _copy_set(tmp_path)
    (root / "codes" / "gender.yaml").unlink()

    with pytest.raises(MappingError, match="file not found") as err:
        load_mapping_set(root)
    assert "gender.yaml" in str(err.value)


def test_invalid_yaml_names_file(tmp_path):
    """A file that is not YAML stops the load, naming the file."""
    root = _copy_set(tmp_path)
    (root / "policies.yaml").write_text("entity: [unclosed\n", encoding="utf-8")

    with pytest.raises(MappingError, match="not valid YAML") as err:
        load_mapping_set(root)
    assert "policies.yaml" in str(err.value)


def test_bad_version_is_refused(tmp_path):
    """The set version must be MAJOR.MINOR.PATCH."""
    root = _copy_set(tmp_path)
    _edit(root / "mapping_set.yaml", lambda d: d.update(version="1.0"))

    with pytest.raises(MappingError, match="version"):
        load_mapping_set(root)
