"""Extract: land the seller's drop, check it against its control file and the mapping, stage it as Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from booktransfer.errors import ControlFileError, MappingError
from booktransfer.extract.control import parse_control, verify_file
from booktransfer.extract.reader import read_header, read_text_table
from booktransfer.extract.sources import DropSource
from booktransfer.mapping.loader import MappingSet


@dataclass(frozen=True)
class ExtractedEntity:
    """One entity's source file, staged: where it went and how many rows it had."""

    entity: str
    source_file: str
    rows: int
    sha256: str
    path: str


def check_columns(mapping_set: MappingSet, entity: str, header: list[str], file: str) -> None:
    """Stop unless every source column is mapped or ignored and every mapped column is present (R08)."""
    mapping = mapping_set.entities[entity]
    known = mapping.source_columns
    unexpected = [c for c in header if c not in known]
    if unexpected:
        raise MappingError(
            f"{file}: column(s) {', '.join(unexpected)} are neither mapped nor ignored in "
            f"{entity}.yaml (UNCLASSIFIED_COLUMN); classify them or list them under 'ignored' with a reason"
        )
    absent = sorted({f.source for f in mapping.fields if f.source} - set(header))
    if absent:
        raise MappingError(f"{file}: mapped column(s) {', '.join(absent)} missing from the file")


def extract_drop(source: DropSource, mapping_set: MappingSet, landing: Path, out_dir: Path) -> list[ExtractedEntity]:
    """Land the control file and every entity file, verify them, write `<entity>.parquet` to `out_dir`.

    Landed copies are removed once staged, so nothing clear stays on the worker beyond the stage output.
    """
    drop = mapping_set.spec.drop
    control_path = source.fetch(drop.control_file.name, landing)
    control = parse_control(control_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    for entity, mapping in mapping_set.entities.items():
        name = mapping.source.file
        if name not in control:
            raise ControlFileError(f"{drop.control_file.name}: no entry for {name} (entity {entity})")
        landed = source.fetch(name, landing)
        try:
            verify_file(landed, control[name], drop.encoding)
            check_columns(mapping_set, entity, read_header(landed, drop), name)
            table = read_text_table(landed, drop)
        finally:
            landed.unlink(missing_ok=True)
        if table.num_rows != control[name].rows:
            raise ControlFileError(
                f"{name}: {table.num_rows} data rows, control file declares {control[name].rows}"
            )
        path = out_dir / f"{entity}.parquet"
        pq.write_table(table, path)
        staged.append(ExtractedEntity(entity, name, table.num_rows, control[name].sha256, str(path)))
    control_path.unlink(missing_ok=True)
    return staged
