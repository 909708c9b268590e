"""`booktransfer mapping preview`: the first rows of a drop as the buyer would receive them (protection applied)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from booktransfer.mapping.lint import _match_file
from booktransfer.mapping.loader import MappingSet


def _head(path: Path, rows: int, tmp: Path) -> Path:
    """A copy of the file's header and first `rows` lines (enough to preview without reading it all)."""
    out = tmp / path.name
    with path.open("rb") as src, out.open("wb") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return out


def preview_entity(mapping_set: MappingSet, entity: str, drop: Path, rows: int, ring: Any) -> tuple[Any, Any]:
    """(protected rows, rejects) for the first `rows` rows of one entity's file."""
    from booktransfer.extract.reader import read_text_table
    from booktransfer.mapping.apply import map_entity
    from booktransfer.protect.entity import protect_entity

    mapping = mapping_set.entities[entity]
    with tempfile.TemporaryDirectory() as tmp:
        main = _match_file(drop, mapping.source.file)
        if main is None:
            raise FileNotFoundError(f"no single file in {drop} matches {mapping.source.file!r}")
        raw = read_text_table(_head(main, rows, Path(tmp)), mapping_set.spec.drop)
    joined = {j.alias: read_text_table(_match_file(drop, j.file), mapping_set.spec.drop)
              for j in mapping.source.joins}
    mapped = map_entity(mapping_set, entity, raw, joined)
    return protect_entity(mapping, mapped.table, ring), mapped.rejects


def render(table: Any, title: str, width: int = 22) -> Any:
    """A rich table of the rows; long values (tokens, ciphertexts) shortened for the terminal."""
    from rich.table import Table

    out = Table(title=title, show_lines=False)
    names = ["_line", *[c for c in table.column_names if c != "_line"]]
    for name in names:
        out.add_column("line" if name == "_line" else name, overflow="fold")
    for row in table.select(names).to_pylist():
        cells = ["" if row[n] is None else str(row[n]) for n in names]
        out.add_row(*[c if len(c) <= width else c[: width - 1] + "…" for c in cells])
    return out
