"""`booktransfer mapping lint`: check a mapping set before a run, each finding at its file:line:column.

Checks: schema validity, entity files and code tables present, references, every target column present
with a compatible type in the buyer schema (its DDL, or a real database with --target), and, with
--source, every mapped column present in the drop, no unexpected column (R08), every code seen covered.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from booktransfer.errors import BookTransferError
from booktransfer.mapping.loader import SET_FILE
from booktransfer.mapping.model import (
    CodeTable,
    EntityMapping,
    FieldSpec,
    FieldType,
    MappingSetSpec,
    Protection,
    UnknownDefault,
    split_column,
)


class LintUnusable(BookTransferError):
    """The input cannot be linted at all (no such folder, unreachable target, missing drop)."""


@dataclass(frozen=True)
class Finding:
    """One problem, where it is, and what to do about it."""

    file: Path
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class _Located:
    """A YAML file parsed twice: as data, and as nodes that know their line and column."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = path.read_text(encoding="utf-8")
        self.node = yaml.compose(text)
        self.data = yaml.safe_load(text)

    def at(self, *loc: Any) -> tuple[int, int]:
        """1-based line and column of the deepest node on the path `loc` (keys and list indexes)."""
        node, found = self.node, self.node
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                match = [(k, v) for k, v in node.value if k.value == part]
                if not match:
                    break
                found = match[0][0]
                node = match[0][1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = found = node.value[part]
            else:
                break
        mark = found.start_mark if found is not None else None
        return (mark.line + 1, mark.column + 1) if mark else (1, 1)

    def finding(self, message: str, *loc: Any) -> Finding:
        """A finding at `loc` in this file."""
        line, col = self.at(*loc)
        return Finding(self.path, line, col, message)


def _load(path: Path, model: type[BaseModel], findings: list[Finding]) -> tuple[_Located | None, Any]:
    """Parse and validate one file; schema errors become findings at their YAML location."""
    if not path.is_file():
        return None, None
    try:
        located = _Located(path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        findings.append(Finding(path, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                                f"not valid YAML: {getattr(e, 'problem', e)}"))
        return None, None
    try:
        return located, model.model_validate(located.data)
    except ValidationError as e:
        for err in e.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)] or _hint(err["msg"])
            where = ".".join(str(p) for p in loc) or "(top)"
            findings.append(located.finding(f"{where}: {err['msg']}", *loc))
        return located, None


_HINTS = {"key columns": ["key"], "mapped twice": ["fields"], "both mapped and ignored": ["ignored"],
          "join alias": ["source", "joins"], "header lines": ["drop", "header"]}


def _hint(message: str) -> list[str]:
    """Where a whole-file rule points: the key that the message is about."""
    return next((loc for fragment, loc in _HINTS.items() if fragment in message), [])


_COMPATIBLE = {
    FieldType.STRING: ("CHAR", "TEXT", "CLOB", "STRING"),
    FieldType.DATE: ("DATE",),
    FieldType.TIMESTAMP: ("TIMESTAMP", "DATETIME"),
    FieldType.DECIMAL: ("NUMERIC", "DECIMAL", "REAL", "DOUBLE", "FLOAT"),
    FieldType.INTEGER: ("INT", "NUMERIC", "DECIMAL"),
}


def _compatible(spec: FieldSpec, sql_type: str) -> bool:
    kind = FieldType.STRING if spec.protection in (Protection.TOKEN, Protection.ENCRYPT,
                                                   Protection.ENCRYPT_TOKEN) else spec.type
    return any(word in sql_type.upper() for word in _COMPATIBLE[kind])


def target_tables(ddl: Path | None, url: str | None) -> dict[str, dict[str, str]]:
    """Columns and their SQL types per table, from a real database or from the buyer DDL (in memory)."""
    import sqlalchemy as sa

    from booktransfer.load.target import ddl_statements

    if url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    else:
        engine = sa.create_engine("sqlite://")
        with engine.begin() as conn:
            for stmt in ddl_statements(ddl):
                conn.execute(sa.text(stmt))
    try:
        inspector = sa.inspect(engine)
        return {t: {c["name"]: str(c["type"]) for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    except sa.exc.SQLAlchemyError as e:
        raise LintUnusable(f"cannot read the target schema: {type(e).__name__}") from None
    finally:
        engine.dispose()


def _check_targets(doc: _Located, mapping: EntityMapping, tables: dict[str, dict[str, str]]) -> list[Finding]:
    if mapping.entity not in tables:
        return [doc.finding(f"the target schema has no table {mapping.entity!r}; add it to the DDL or rename "
                            "the entity", "entity")]
    columns, out = tables[mapping.entity], []
    for i, spec in enumerate(mapping.fields):
        if spec.protection is Protection.DROP:
            continue
        needed = [spec.target] + ([f"{spec.target}_token"] if spec.protection is Protection.ENCRYPT_TOKEN else [])
        for name in needed:
            if name not in columns:
                out.append(doc.finding(f"target column {mapping.entity}.{name} does not exist in the target "
                                       "schema; add it or fix 'target'", "fields", i, "target"))
            elif not _compatible(spec, columns[name]):
                out.append(doc.finding(f"target column {mapping.entity}.{name} is {columns[name]}, not compatible "
                                       f"with a {spec.type} field under protection {spec.protection}; change the "
                                       "field's type or the column", "fields", i, "target"))
    return out


def _check_references(doc: _Located, mapping: EntityMapping, earlier: dict[str, EntityMapping]) -> list[Finding]:
    out = []
    for i, spec in enumerate(mapping.fields):
        if not spec.references:
            continue
        parent, column = spec.references.split(".")
        if parent not in earlier:
            out.append(doc.finding(f"references {parent!r}, which is not an entity listed before "
                                   f"{mapping.entity!r} in {SET_FILE}", "fields", i, "references"))
        elif column not in {f.target for f in earlier[parent].fields}:
            out.append(doc.finding(f"references unknown column {spec.references}", "fields", i, "references"))
    return out


def _match_file(drop: Path, pattern: str) -> Path | None:
    hits = sorted(p for p in drop.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name, pattern))
    return hits[0] if len(hits) == 1 else None


def _check_source(doc: _Located, mapping: EntityMapping, spec: MappingSetSpec, codes: dict[str, CodeTable],
                  drop: Path) -> list[Finding]:
    """Headers against mapped/ignored columns, and codes seen in the drop against the code tables."""
    from booktransfer.extract.reader import read_header, read_text_table

    out, tables = [], {}
    files = [("", mapping.source.file, mapping.source.columns, ("source", "file"))]
    files += [(j.alias, j.file, j.columns, ("source", "joins", n, "file")) for n, j in enumerate(mapping.source.joins)]
    for alias, pattern, declared, loc in files:
        path = _match_file(drop, pattern)
        if path is None:
            out.append(doc.finding(f"no single file in {drop} matches {pattern!r}", *loc))
            continue
        header = read_header(path, spec.drop) if spec.drop.header else list(declared)
        missing = sorted(mapping.mapped_columns_of(alias) - set(header))
        if missing:
            out.append(doc.finding(f"{path.name} has no column(s) {', '.join(missing)}; fix the field's source",
                                   *loc))
        for column in [c for c in header if c not in mapping.columns_of(alias)]:
            name = f"{alias}.{column}" if alias else column
            out.append(doc.finding(f"column {name} of {path.name} is neither mapped nor ignored (R08: "
                                   "UNCLASSIFIED_COLUMN); map it with a classification, or list it under "
                                   "'ignored' with a reason", "ignored" if mapping.ignored else "fields"))
        if not missing:
            tables[alias] = read_text_table(path, spec.drop)
    out += _check_codes(doc, mapping, codes, tables)
    return out


def _check_codes(doc: _Located, mapping: EntityMapping, codes: dict[str, CodeTable],
                 tables: dict[str, Any]) -> list[Finding]:
    import pyarrow.compute as pc

    from booktransfer.mapping.transforms import NORMALIZERS

    out = []
    for i, spec in enumerate(mapping.fields):
        explicit = "unknown" in spec.model_fields_set  # 'unknown: reject' written out is a decision, not a gap
        if not spec.lookup or spec.lookup not in codes or explicit or not spec.source:
            continue
        alias, column = split_column(spec.source)
        if alias not in tables:
            continue
        values = tables[alias].column(column).combine_chunks()
        for step in spec.normalize:
            values = NORMALIZERS[step](values)
        seen = {v for v in pc.unique(values).to_pylist() if v}
        unknown = sorted(seen - set(codes[spec.lookup].values))
        if unknown:
            out.append(doc.finding(f"code(s) {', '.join(map(repr, unknown[:10]))} seen in column {spec.source} are "
                                   f"not in codes/{spec.lookup}.yaml; add them to the table or declare "
                                   "'unknown: {default: ...}' (under 'unknown: reject' such rows are quarantined)",
                                   "fields", i, "lookup"))
    return out


def lint_mapping_set(path: Path | str, source: Path | str | None = None, target: str | None = None,
                     home: Path | None = None) -> list[Finding]:
    """Every finding for one mapping set folder; raise LintUnusable when it cannot be checked at all."""
    root = Path(path)
    if not (root / SET_FILE).is_file():
        raise LintUnusable(f"{root} is not a mapping set: {SET_FILE} not found")
    if source is not None and not Path(source).is_dir():
        raise LintUnusable(f"--source {source} is not a folder")
    findings: list[Finding] = []
    set_doc, spec = _load(root / SET_FILE, MappingSetSpec, findings)
    if spec is None:
        return findings
    home = home or root.resolve().parents[1]
    ddl = home / "schemas" / spec.buyer_schema / "ddl.sql"
    if target is None and not ddl.is_file():
        findings.append(set_doc.finding(f"buyer schema {spec.buyer_schema!r} has no DDL at {ddl}", "buyer_schema"))
        tables = None
    else:
        tables = target_tables(ddl, target)
    entities: dict[str, EntityMapping] = {}
    for n, name in enumerate(spec.entities):
        entity_path = root / f"{name}.yaml"
        if not entity_path.is_file():
            findings.append(set_doc.finding(f"entity {name!r} is listed but {entity_path.name} does not exist",
                                            "entities", n))
            continue
        doc, mapping = _load(entity_path, EntityMapping, findings)
        if mapping is None:
            continue
        if mapping.entity != name:
            findings.append(doc.finding(f"entity is {mapping.entity!r} but the file is listed as {name!r}", "entity"))
        findings += _check_references(doc, mapping, entities)
        codes = _load_codes(root, doc, mapping, findings)
        if tables is not None:
            findings += _check_targets(doc, mapping, tables)
        if source is not None:
            findings += _check_source(doc, mapping, spec, codes, Path(source))
        entities[name] = mapping
    return findings


def _load_codes(root: Path, doc: _Located, mapping: EntityMapping, findings: list[Finding]) -> dict[str, CodeTable]:
    codes = {}
    for i, spec in enumerate(mapping.fields):
        if not spec.lookup:
            continue
        path = root / "codes" / f"{spec.lookup}.yaml"
        if not path.is_file():
            findings.append(doc.finding(f"code table {spec.lookup!r} not found: create codes/{spec.lookup}.yaml",
                                        "fields", i, "lookup"))
            continue
        _, table = _load(path, CodeTable, findings)
        if table is not None:
            codes[spec.lookup] = table
            if isinstance(spec.unknown, UnknownDefault) and spec.unknown.default not in table.values.values():
                findings.append(doc.finding(f"unknown default {spec.unknown.default!r} is not a buyer value of "
                                            f"codes/{spec.lookup}.yaml", "fields", i, "unknown"))
    return codes
