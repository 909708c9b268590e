"""Extract: land the seller's drop, check it against its control file and the mapping, stage it as Parquet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from booktransfer.errors import BookTransferError, ControlFileError, MappingError, RowCountMismatch
from booktransfer.extract.control import ControlEntry, parse_control, verify_file
from booktransfer.extract.reader import read_header, read_text_table
from booktransfer.extract.security_events import SecurityEventLog, pi_categories
from booktransfer.extract.sources import DropSource
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import DropSpec


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


@contextmanager
def security_guard(events: SecurityEventLog | None, file: str, categories: list[str]) -> Iterator[None]:
    """Record a security event for an integrity or host-key failure on `file`, then let the error stop the run."""
    try:
        yield
    except BookTransferError as e:
        if events is not None:
            events.record_error(e, file, categories)
        raise


def extract_drop(source: DropSource, mapping_set: MappingSet, landing: Path, out_dir: Path,
                 events: SecurityEventLog | None = None) -> list[ExtractedEntity]:
    """Land the control file and every entity file, verify them, write `<entity>.parquet` to `out_dir`.

    Landed copies are removed once staged, so nothing clear stays on the worker beyond the stage output.
    A checksum, row count or control file mismatch (or a wrong host key) is recorded in `events` first.
    """
    drop = mapping_set.spec.drop
    control_name = drop.control_file.name
    with security_guard(events, control_name, pi_categories(mapping_set)):
        control_path = source.fetch(control_name, landing)
        try:
            control = parse_control(control_path)
        finally:
            control_path.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    for entity, mapping in mapping_set.entities.items():
        name = mapping.source.file
        with security_guard(events, name, pi_categories(mapping_set, entity)):
            if name not in control:
                raise ControlFileError(f"{control_name}: no entry for {name} (entity {entity})")
            staged.append(_stage_entity(source, mapping_set, entity, control[name], landing, out_dir, drop))
    return staged


def _stage_entity(source: DropSource, mapping_set: MappingSet, entity: str, entry: ControlEntry, landing: Path,
                  out_dir: Path, drop: DropSpec) -> ExtractedEntity:
    """Land one file, check it against its control entry and the mapping, write its Parquet atomically."""
    name = entry.file
    landed = source.fetch(name, landing)
    try:
        verify_file(landed, entry, drop.encoding)
        check_columns(mapping_set, entity, read_header(landed, drop), name)
        table = read_text_table(landed, drop)
    finally:
        landed.unlink(missing_ok=True)
    if table.num_rows != entry.rows:
        raise RowCountMismatch(f"{name}: {table.num_rows} data rows, control file declares {entry.rows}")
    path = out_dir / f"{entity}.parquet"
    tmp = out_dir / f".{entity}.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.replace(path)
    return ExtractedEntity(entity, name, table.num_rows, entry.sha256, str(path))
