"""Contract tests: mapping sets, buyer suites, buyer DDL and the seller's documented file format agree.

Every mapping set under mappings/ must load; every suite under expectations/ must be a GX suite whose
columns the mapping fills; every column the mapping writes (after protection) must exist in the buyer DDL;
every source column of the seller's files must be mapped or deliberately ignored.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from functools import cache
from pathlib import Path

import pytest

from booktransfer.mapping.loader import MappingSet, load_mapping_set
from booktransfer.mapping.model import EntityMapping, Protection

ROOT = Path(__file__).resolve().parents[2]
SET_FILES = sorted((ROOT / "mappings").glob("*/mapping_set.yaml"))
SUITE_FILES = sorted((ROOT / "expectations").glob("*/*.json"))
SAMPLE_DOC = ROOT / "docs" / "sample-book.md"
LINEAGE_COLUMNS = {"transfer_id", "source_line", "row_fingerprint", "merged_customer_nos"}
COLUMN_KWARGS = ("column", "column_A", "column_B")


def _set_id(path: Path) -> str:
    return path.parent.name


def _suite_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@cache
def _load(set_dir: Path) -> MappingSet:
    return load_mapping_set(set_dir)


@cache
def _ddl_columns(schema: str) -> dict[str, list[str]]:
    """Table -> column names, from executing the schema's DDL in an in-memory SQLite database."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript((ROOT / "schemas" / schema / "ddl.sql").read_text(encoding="utf-8"))
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info('{t}')")] for t in tables}
    finally:
        conn.close()


def _written_columns(mapping: EntityMapping) -> set[str]:
    """The buyer columns an entity's protected table fills: encrypt+token adds <col>_token, drop removes."""
    out = set()
    for field in mapping.fields:
        if field.protection is Protection.DROP:
            continue
        out.add(field.target)
        if field.protection is Protection.ENCRYPT_TOKEN:
            out.add(f"{field.target}_token")
    return out


def _condition_columns(condition: object) -> set[str]:
    """Column names in a row_condition: a pandas string (`a=="x"`) or GX's structured {"column": {"name": ...}}."""
    if isinstance(condition, str):
        return set(re.findall(r"([A-Za-z_]\w*)\s*(?:==|!=|>=|<=|>|<)", condition))
    if isinstance(condition, list):
        return set().union(*(_condition_columns(c) for c in condition))
    if not isinstance(condition, dict):
        return set()
    column = condition.get("column")
    found = {column["name"]} if isinstance(column, dict) and "name" in column else set()
    return found.union(*(_condition_columns(v) for k, v in condition.items() if k != "column"))


def _expectation_columns(expectation: dict) -> set[str]:
    """Every column an expectation names: column kwargs, column_list and the row_condition's column names."""
    kwargs = expectation.get("kwargs", {})
    columns = {kwargs[k] for k in COLUMN_KWARGS if k in kwargs} | set(kwargs.get("column_list", []))
    return columns | _condition_columns(kwargs.get("row_condition"))


def _documented_files() -> dict[str, list[str]]:
    """File -> source columns, from the `### \\`FILE.csv\\`` sections of docs/sample-book.md."""
    files: dict[str, list[str]] = {}
    current = None
    for line in SAMPLE_DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^###\s+`([^`]+\.csv)`", line)
        if heading:
            current = heading.group(1)
            files[current] = []
        elif line.startswith("#"):
            current = None
        elif current:
            cell = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
            if cell:
                files[current].append(cell.group(1))
    return files


def _check_files_classified(mapping_set: MappingSet, headers: dict[str, list[str]]) -> list[str]:
    """Problems: a source column neither mapped nor ignored, or a mapped file absent from `headers`."""
    problems = []
    for entity, mapping in mapping_set.entities.items():
        header = headers.get(mapping.source.file)
        if header is None:
            problems.append(f"{entity}: source file {mapping.source.file} not described")
            continue
        problems += [f"{mapping.source.file}.{c}" for c in header if c not in mapping.source_columns]
        problems += [f"{mapping.source.file}.{f.source} (mapped, absent)" for f in mapping.fields
                     if f.source and f.source not in header]
    return problems


def test_there_is_something_to_check():
    """The project ships at least one mapping set and one suite (a glob typo would make every test vacuous)."""
    assert SET_FILES
    assert SUITE_FILES


def test_row_condition_columns_are_found():
    """The contract's row_condition reader finds columns in the pandas and the structured GX forms."""
    structured = {"type": "and", "conditions": [
        {"column": {"name": "id_type"}, "operator": "==", "parameter": "RIC", "type": "comparison"},
        {"column": {"name": "customer_type"}, "operator": "!=", "parameter": "x", "type": "comparison"}]}

    assert _condition_columns('customer_type=="individual"') == {"customer_type"}
    assert _condition_columns(structured) == {"id_type", "customer_type"}


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_mapping_set_loads(set_file):
    """Every mappings/*/mapping_set.yaml loads with all its entity files and code tables."""
    mapping_set = _load(set_file.parent)

    assert list(mapping_set.entities) == list(mapping_set.spec.entities)


@pytest.mark.parametrize("suite_file", SUITE_FILES, ids=_suite_id)
def test_suite_rebuilds_in_gx(suite_file):
    """Every suite file rebuilds as a great_expectations.ExpectationSuite, with rule metadata on every rule."""
    import great_expectations as gx

    import booktransfer.validate.custom_expectations  # noqa: F401  (registers booktransfer's custom types by name)

    doc = json.loads(suite_file.read_text(encoding="utf-8"))

    suite = gx.ExpectationSuite(**doc)

    assert suite.name == suite_file.stem
    assert len(suite.expectations) == len(doc["expectations"]) > 0
    assert all(e.meta.get("rule_id") and e.meta.get("reason") for e in suite.expectations)


@pytest.mark.parametrize("suite_file", SUITE_FILES, ids=_suite_id)
def test_suite_rule_ids_unique(suite_file):
    """Rule ids are unique within a suite (quarantine records are keyed by them)."""
    ids = [e["meta"]["rule_id"] for e in json.loads(suite_file.read_text(encoding="utf-8"))["expectations"]]

    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_every_entity_has_a_suite(set_file):
    """Each entity of a mapping set has expectations/<buyer_schema>/<entity>.json."""
    mapping_set = _load(set_file.parent)
    suite_dir = ROOT / "expectations" / mapping_set.spec.buyer_schema

    missing = [e for e in mapping_set.entities if not (suite_dir / f"{e}.json").is_file()]

    assert missing == []


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_suite_columns_are_mapping_targets(set_file):
    """Every column a suite expectation names is a target of that entity's mapping (validation runs pre-protect)."""
    mapping_set = _load(set_file.parent)
    problems = []
    for entity, mapping in mapping_set.entities.items():
        suite = ROOT / "expectations" / mapping_set.spec.buyer_schema / f"{entity}.json"
        if not suite.is_file():
            continue
        targets = {f.target for f in mapping.fields}
        for exp in json.loads(suite.read_text(encoding="utf-8"))["expectations"]:
            problems += [f"{entity}: {exp['meta']['rule_id']} names {c}" for c in _expectation_columns(exp) - targets]

    assert problems == []


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_written_columns_exist_in_ddl(set_file):
    """Every column the protected table writes exists in the buyer DDL's CREATE TABLE for that entity."""
    mapping_set = _load(set_file.parent)
    ddl = _ddl_columns(mapping_set.spec.buyer_schema)
    problems = []
    for entity, mapping in mapping_set.entities.items():
        if entity not in ddl:
            problems.append(f"{entity}: no CREATE TABLE")
            continue
        problems += [f"{entity}.{c}" for c in sorted(_written_columns(mapping) - set(ddl[entity]))]

    assert problems == []


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_ddl_columns_are_filled(set_file):
    """Every buyer column of a mapped table, apart from lineage columns, is filled by the mapping."""
    mapping_set = _load(set_file.parent)
    ddl = _ddl_columns(mapping_set.spec.buyer_schema)
    problems = []
    for entity, mapping in mapping_set.entities.items():
        unfilled = set(ddl.get(entity, [])) - LINEAGE_COLUMNS - _written_columns(mapping)
        problems += [f"{entity}.{c}" for c in sorted(unfilled)]

    assert problems == []


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_code_tables_exist(set_file):
    """Every lookup names a code table file, whose declared name matches, with at least one code."""
    mapping_set = _load(set_file.parent)
    lookups = {f.lookup for m in mapping_set.entities.values() for f in m.fields if f.lookup}

    for name in lookups:
        assert (set_file.parent / "codes" / f"{name}.yaml").is_file(), name
        assert mapping_set.codes[name].name == name
        assert mapping_set.codes[name].values


@pytest.mark.parametrize("set_file", SET_FILES, ids=_set_id)
def test_unknown_defaults_are_known_codes(set_file):
    """A named default for unknown codes is itself one of the table's buyer values."""
    mapping_set = _load(set_file.parent)

    for mapping in mapping_set.entities.values():
        for field in mapping.fields:
            default = getattr(field.unknown, "default", None)
            if field.lookup and default is not None:
                assert default in mapping_set.codes[field.lookup].values.values(), field.target


def test_documented_source_columns_classified():
    """Every column docs/sample-book.md lists for the seller's files is mapped or ignored by the example set."""
    documented = _documented_files()

    problems = _check_files_classified(_load(ROOT / "mappings" / "example_seller"), documented)

    assert set(documented) == {"LDPERSON.csv", "LCCONT.csv", "LCPARTY.csv", "CUST_AUTH_LOG.csv"}
    assert problems == []


def test_generated_sample_columns_classified(tmp_path):
    """Every header column of a generated sample book is mapped or ignored by the example set."""
    try:
        from booktransfer.sample.generator import generate_book
    except ImportError as e:
        pytest.skip(f"booktransfer.sample.generator.generate_book is not importable yet: {e}")
    drop = tmp_path / "drop"
    generate_book(drop, customers=3, seed=1)
    mapping_set = _load(ROOT / "mappings" / "example_seller")
    headers = {}
    for mapping in mapping_set.entities.values():
        path = drop / mapping.source.file
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as fh:
                headers[mapping.source.file] = next(csv.reader(fh))

    assert _check_files_classified(mapping_set, headers) == []
