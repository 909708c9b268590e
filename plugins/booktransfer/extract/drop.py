"""Extract: land the seller's drop, check it against its control file and the mapping, stage it as Parquet."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from booktransfer.errors import BookTransferError, ControlFileError, MappingError, RowCountMismatch
from booktransfer.extract.control import (
    ControlEntry,
    parse_control,
    parse_control_json,
    split_trailer,
    verify_file,
)
from booktransfer.extract.reader import read_header, read_text_table
from booktransfer.extract.security_events import SecurityEventLog, pi_categories
from booktransfer.extract.sources import DropSource
from booktransfer.mapping.loader import MappingSet

StageWriter = Callable[[pa.Table, Path], object]


@dataclass(frozen=True)
class ExtractedEntity:
    """One staged source file of an entity (its main file, or a joined file under `alias`)."""

    entity: str
    source_file: str
    rows: int
    sha256: str | None
    path: str
    alias: str = ""


def check_columns(mapping_set: MappingSet, entity: str, header: list[str], file: str, alias: str = "") -> None:
    """Stop unless every source column is mapped or ignored and every mapped column is present (R08)."""
    mapping = mapping_set.entities[entity]
    unexpected = [c for c in header if c not in mapping.columns_of(alias)]
    if unexpected:
        raise MappingError(
            f"{file}: column(s) {', '.join(unexpected)} are neither mapped nor ignored in "
            f"{entity}.yaml (UNCLASSIFIED_COLUMN); classify them or list them under 'ignored' with a reason"
        )
    absent = sorted(mapping.mapped_columns_of(alias) - set(header))
    if absent:
        raise MappingError(f"{file}: mapped column(s) {', '.join(absent)} missing from the file")


def resolve_file(pattern: str, names: list[str], where: str, entity: str) -> str:
    """The one file name matching a mapping's file name or glob pattern."""
    hits = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if not hits:
        raise ControlFileError(f"{where}: no entry for {pattern} (entity {entity})")
    if len(hits) > 1:
        raise ControlFileError(f"{where}: {pattern} (entity {entity}) matches several files: {', '.join(hits)}")
    return hits[0]


def _entity_files(mapping_set: MappingSet, entity: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(alias, file pattern, declared columns) for the main file ('' alias) and each joined file."""
    source = mapping_set.entities[entity].source
    return [("", source.file, source.columns)] + [(j.alias, j.file, j.columns) for j in source.joins]


@contextmanager
def security_guard(events: SecurityEventLog | None, file: str, categories: list[str]) -> Iterator[None]:
    """Record a security event for an integrity or host-key failure on `file`, then let the error stop the run."""
    try:
        yield
    except BookTransferError as e:
        if events is not None:
            events.record_error(e, file, categories)
        raise


def read_control(source: DropSource, mapping_set: MappingSet, landing: Path) -> dict[str, ControlEntry] | None:
    """The control file's entries (pipe or JSON format); None when the seller writes trailer records instead."""
    spec = mapping_set.spec.drop.control_file
    if spec.format == "trailer":
        return None
    path = source.fetch(spec.name, landing)
    try:
        return parse_control(path) if spec.format == "pipe" else parse_control_json(path)
    finally:
        path.unlink(missing_ok=True)


def extract_drop(source: DropSource, mapping_set: MappingSet, landing: Path, out_dir: Path,
                 events: SecurityEventLog | None = None, write: StageWriter | None = None) -> list[ExtractedEntity]:
    """Land the control file and every entity's files, verify them, write one Parquet per file to `out_dir`.

    `write(table, path)` writes each staged file (the pipeline passes the encrypted staging writer,
    `RunContext.write_staged`); without it the files are plain Parquet.

    Landed copies are removed once staged, so nothing clear stays on the worker beyond the stage output.
    A checksum, row count or control file mismatch (or a wrong host key) is recorded in `events` first.
    """
    control_name = mapping_set.spec.drop.control_file.name
    with security_guard(events, control_name, pi_categories(mapping_set)):
        control = read_control(source, mapping_set, landing)
    names = list(control) if control is not None else source.list_files()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [(entity, alias, pattern, columns) for entity in mapping_set.entities
             for alias, pattern, columns in _entity_files(mapping_set, entity)]
    fetching = threading.Lock()  # one download at a time: a source (an SFTP session) is not shared by threads

    def land(entity: str, alias: str, pattern: str, columns: tuple[str, ...]) -> tuple[str, pa.Table, ControlEntry]:
        with security_guard(events, pattern, pi_categories(mapping_set, entity)):
            name = resolve_file(pattern, names, control_name if control is not None else "the drop", entity)
            table, entry = _land_file(source, mapping_set, entity, alias, name, columns,
                                      None if control is None else control[name], landing, fetching)
            return name, table, entry

    # The next file is landed, checked and parsed while this one is routed and written (one file ahead, so at
    # most two parsed files are in memory); files are staged in the mapping's order, as the router needs.
    staged = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-land") as pool:
        ahead = pool.submit(land, *files[0]) if files else None
        for i, (entity, alias, _pattern, _columns) in enumerate(files):
            name, table, entry = ahead.result()
            ahead = pool.submit(land, *files[i + 1]) if i + 1 < len(files) else None
            try:
                with security_guard(events, name, pi_categories(mapping_set, entity)):
                    staged.append(_write_file(entity, alias, name, table, entry, out_dir, write))
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                raise
            del table
    return staged


def staged_name(entity: str, alias: str = "") -> str:
    """The Parquet file name a source file is staged under."""
    return f"{entity}.{alias}.parquet" if alias else f"{entity}.parquet"


def _land_file(source: DropSource, mapping_set: MappingSet, entity: str, alias: str, name: str,
               columns: tuple[str, ...], entry: ControlEntry | None, landing: Path,
               fetching: threading.Lock | None = None) -> tuple[pa.Table, ControlEntry]:
    """Land one file and check it against its control entry (or trailer) and the mapping; its parsed rows."""
    drop = mapping_set.spec.drop
    with fetching or nullcontext():
        landed = source.fetch(name, landing)
    try:
        if entry is None:
            entry = split_trailer(landed, drop.control_file.trailer_prefix, drop.delimiter, drop.encoding)
        verify_file(landed, entry, drop.encoding)
        header = read_header(landed, drop) if drop.header else list(columns)
        check_columns(mapping_set, entity, header, name, alias)
        table = read_text_table(landed, drop, columns)
    finally:
        landed.unlink(missing_ok=True)
    if table.num_rows != entry.rows:
        source_of = "control file" if entry.sha256 else "trailer record"
        raise RowCountMismatch(f"{name}: {table.num_rows} data rows, {source_of} declares {entry.rows}")
    return table, entry


def _write_file(entity: str, alias: str, name: str, table: pa.Table, entry: ControlEntry, out_dir: Path,
                write: StageWriter | None) -> ExtractedEntity:
    """Write one checked file's rows as the staged Parquet file of the entity (or of its joined file)."""
    path = out_dir / staged_name(entity, alias)
    if write is not None:
        write(table, path)
    else:
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
    return ExtractedEntity(entity, name, table.num_rows, entry.sha256, str(path), alias)
