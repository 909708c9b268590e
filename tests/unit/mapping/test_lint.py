"""`booktransfer mapping lint`: one test per kind of finding, each at the exact file:line of the YAML."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from booktransfer.cli import main
from booktransfer.mapping.lint import LintUnusable, lint_mapping_set

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def home(tmp_path) -> Path:
    """A project folder with a copy of the example mapping set and the buyer schema."""
    shutil.copytree(ROOT / "mappings" / "example_seller", tmp_path / "mappings" / "m")
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> int:
    """Replace `old` once and return the 1-based line where `new` starts."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return text[: text.index(new)].count("\n") + 1


def _line_of(path: Path, needle: str) -> int:
    return path.read_text(encoding="utf-8").split("\n").index(needle) + 1


def _messages(home: Path, **kw) -> list[str]:
    return [str(f) for f in lint_mapping_set(home / "mappings" / "m", **kw)]


def test_the_example_set_is_clean(home):
    """The shipped example set has no findings against its own buyer schema."""
    assert _messages(home) == []


def test_misspelled_key_is_reported_at_its_line(home):
    """A typo such as 'clasification' is a schema error at the line it is written on."""
    path = home / "mappings" / "m" / "customers.yaml"
    line = _edit(path, "    classification: public\n    protection: keep\n  - target: id_type",
                 "    clasification: public\n    protection: keep\n  - target: id_type")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "clasification" in m for m in found), found


def test_personal_field_kept_in_clear_needs_a_reason(home):
    """Keeping a personal field in clear without allow_clear is reported at that field."""
    path = home / "mappings" / "m" / "customers.yaml"
    _edit(path, "    protection: keep\n    allow_clear: A postcode",
          "    protection: keep\n    description: A postcode")
    field_line = _line_of(path, "  - target: postcode")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{field_line}:") and "allow_clear" in m for m in found), found


def test_target_column_missing_from_the_buyer_schema(home):
    """A target the buyer's DDL lacks is reported at its 'target' line."""
    path = home / "mappings" / "m" / "policies.yaml"
    line = _edit(path, "  - target: sum_insured", "  - target: sum_assured")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "policies.sum_assured does not exist" in m for m in found), found


def test_incompatible_target_type(home):
    """A date field aimed at a NUMERIC column is reported as incompatible at its 'target' line."""
    path = home / "mappings" / "m" / "policies.yaml"
    _edit(path, "    source: Prem\n    normalize: [trim]\n    type: decimal",
          "    source: Prem\n    normalize: [trim]\n    type: date\n    format: \"%Y%m%d\"")
    line = _line_of(path, "  - target: annual_premium")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "not compatible" in m for m in found), found


def test_token_on_a_date_column_is_incompatible(home):
    """Protection that writes text (a token) cannot go into a DATE column."""
    path = home / "mappings" / "m" / "customers.yaml"
    _edit(path, "    protection: keep\n    allow_clear: Needed in clear for age-based",
          "    protection: token\n    allow_clear: Needed in clear for age-based")
    line = _line_of(path, "  - target: birth_date")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "not compatible" in m for m in found), found


def test_key_must_be_mapped(home):
    """A key column that no field maps is reported at 'key'."""
    path = home / "mappings" / "m" / "consents.yaml"
    line = _edit(path, "key: [event_no]", "key: [event_id]")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "event_id" in m for m in found), found


def test_missing_code_table(home):
    """A lookup naming a code table that does not exist is reported at 'lookup'."""
    path = home / "mappings" / "m" / "policies.yaml"
    line = _edit(path, "    lookup: policy_status", "    lookup: contract_status")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "codes/contract_status.yaml" in m for m in found), found


def test_reference_to_an_entity_loaded_later(home):
    """A reference must point at an entity listed before this one."""
    path = home / "mappings" / "m" / "customers.yaml"
    line = _edit(path, "    description: Seller's customer number;",
                 "    references: policies.policy_no\n    description: Seller's customer number;")
    found = _messages(home)
    assert any(m.startswith(f"{path}:{line}:") and "policies" in m for m in found), found


def test_yaml_syntax_error_names_its_line(home):
    """Broken YAML is a finding at the line the parser stopped on, not a crash."""
    path = home / "mappings" / "m" / "policies.yaml"
    _edit(path, "key: [policy_no]", "key: [policy_no")
    found = _messages(home)
    assert any(m.startswith(f"{path}:") and "not valid YAML" in m for m in found), found


def test_source_checks_find_missing_and_unexpected_columns(home, mini_drop):
    """With --source: a mapped column absent from the file, and an unclassified extra column (R08)."""
    path = home / "mappings" / "m" / "customers.yaml"
    _edit(path, "    source: Mobile\n", "    source: MobileNo\n")
    drop = mini_drop.write()
    text = (drop / "LCCONT.csv").read_text(encoding="utf-8").splitlines()
    (drop / "LCCONT.csv").write_text("\n".join([text[0] + ",AgentRemark"] + [t + ",x" for t in text[1:]]) + "\n",
                                          encoding="utf-8")
    found = _messages(home, source=drop)
    file_line = _line_of(path, "  file: LDPERSON.csv")
    assert any(m.startswith(f"{path}:{file_line}:") and "MobileNo" in m for m in found), found
    policies = home / "mappings" / "m" / "policies.yaml"
    assert any(m.startswith(f"{policies}:") and "AgentRemark" in m and "UNCLASSIFIED_COLUMN" in m for m in found)


def test_source_codes_not_in_the_table_unless_declared(home, mini_drop):
    """A code seen in the drop but missing from its table is a finding, unless 'unknown:' is written out."""
    drop = mini_drop.write()
    text = (drop / "LCCONT.csv").read_text(encoding="utf-8").splitlines()
    head = text[0].split(",")
    row = text[1].split(",")
    row[head.index("ContState")] = "9"
    (drop / "LCCONT.csv").write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n", encoding="utf-8")
    path = home / "mappings" / "m" / "policies.yaml"
    line = _line_of(path, "    lookup: policy_status")
    found = _messages(home, source=drop)
    assert any(m.startswith(f"{path}:{line}:") and "'9'" in m for m in found), found
    _edit(path, "    lookup: policy_status\n", "    lookup: policy_status\n    unknown: reject\n")
    assert not any("'9'" in m for m in _messages(home, source=drop))


def test_cli_exit_codes(home, mini_drop, capsys):
    """0 for a clean set, 1 for findings, 2 for input that cannot be linted."""
    mset = str(home / "mappings" / "m")
    assert main(["mapping", "lint", mset]) == 0
    _edit(home / "mappings" / "m" / "policies.yaml", "  - target: sum_insured", "  - target: sum_assured")
    assert main(["mapping", "lint", mset]) == 1
    assert main(["mapping", "lint", str(home)]) == 2
    assert main(["mapping", "lint", mset, "--source", str(home / "nowhere")]) == 2
    out = capsys.readouterr().out
    assert "sum_assured" in out


def test_unusable_input_raises():
    """A folder without mapping_set.yaml cannot be linted."""
    with pytest.raises(LintUnusable):
        lint_mapping_set(ROOT / "docs")


def test_schema_command_prints_a_json_schema(capsys):
    """`mapping schema` prints a JSON Schema editors can use; it knows the protections."""
    import json

    assert main(["mapping", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "encrypt+token" in json.dumps(schema) and schema["title"] == "EntityMapping"
