"""Partitions: a book split into N buckets so that every stage after extract runs per partition, as its own task.

Which partition a seller's row goes to (`Router`, applied by extract while it stages the files):

- a root entity (one that refers to no other: customers) goes by a stable hash of its *person key*, the book
  rules' R17 match key (ID type and normalised ID number, a 15-digit resident ID in its 18-digit form) when the
  row has one, else its own key. So the rows of one person under two customer numbers, which validation merges,
  share a partition;
- every other entity travels with the row its first reference names (policies with their holder, policy
  parties with their policy, consents with their customer), so a person's policies, their parties and the
  person's consents sit together; a value no parent row holds (an orphan) goes by its own hash;
- a joined file's rows travel with the main-file row they join (an unmatched one by its own key's hash).

Keys are compared as the mapping maps them (normalizers, code tables), exactly as validation compares them.
The hash is FNV-1a (64 bit) over the key's UTF-8 bytes, modulo N: the same book and N give the same partitions
on any machine, in any process. Checks that span partitions (key uniqueness, references, aggregates, R17
merges, the load plan's roles and suppressions) run in the book-level steps on key columns only
(`booktransfer.validate.partitioned`, `booktransfer.load.partitioned`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from booktransfer.errors import MappingError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from booktransfer.mapping.loader import MappingSet
    from booktransfer.validate.book_rules import BookRules

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MAX_PARTITIONS = 64
WRITE_THREADS = 2  # partition files extract writes at a time
KEY_SEPARATOR = "\x1f"
PART_COLUMN = "__part"  # a row's partition number in the book-level steps' tables of the whole book


def part_name(partition: int) -> str:
    """The folder name of a partition: `part-003`."""
    return f"part-{partition:03d}"


def check_partitions(partitions: int) -> int:
    """The partition count, checked to be an integer from 1 to MAX_PARTITIONS."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be an integer from 1 to {MAX_PARTITIONS}, not {partitions!r}")
    return partitions


def fnv1a64(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """FNV-1a 64-bit hash of each value's UTF-8 bytes (a null hashes like the empty string), vectorised."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arr = pc.fill_null(values.cast(pa.large_string()), "")
    n = len(arr)
    hashes = np.full(n, FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return hashes
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    prime = np.uint64(FNV_PRIME)
    # Longest first: the values that have a byte at position j are a prefix of this order, so each step works on
    # a contiguous slice (no gather and scatter of the hashes).
    order = np.argsort(-lengths, kind="stable")
    descending, ordered_starts, ordered = -lengths[order], starts[order], hashes[order]
    for j in range(int(lengths.max(initial=0))):
        live = int(np.searchsorted(descending, -j, side="left"))  # how many values are longer than j bytes
        ordered[:live] = (ordered[:live] ^ data[ordered_starts[:live] + j]) * prime
    hashes[order] = ordered
    return hashes


def fnv1a64_reference(value: str) -> int:
    """FNV-1a 64-bit of one string, in plain Python (the specification `fnv1a64` is tested against)."""
    h = FNV_OFFSET
    for byte in value.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def buckets(values: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """The partition (0..partitions-1) of each key value."""
    import numpy as np

    check_partitions(partitions)
    return (fnv1a64(values) % np.uint64(partitions)).astype(np.int32)


def _mapped_column(mapping_set: MappingSet, entity: str, raw: pa.Table, target: str) -> pa.Array:
    """One target column of an entity as the mapping maps it from the raw rows (values that fail become null)."""
    from booktransfer.mapping.apply import map_field

    spec = next((f for f in mapping_set.entities[entity].fields if f.target == target), None)
    if spec is None:
        raise MappingError(f"{entity}: partitioning needs the field {target}, which the mapping does not define")
    missing = [c for c in spec.source_columns if c not in raw.column_names]
    if missing:
        raise MappingError(f"{entity}.{target}: partitioning needs it from the main file "
                           f"{mapping_set.entities[entity].source.file}, but it comes from {', '.join(missing)}")
    return map_field(spec, raw, mapping_set)[0]


def _text_key(columns: list[pa.Array]) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = [c.cast(pa.string()) for c in columns]
    if len(texts) == 1:
        return texts[0]
    return pc.binary_join_element_wise(*[pc.fill_null(t, "") for t in texts], KEY_SEPARATOR)


@dataclass
class Router:
    """Assigns every staged row of a book to a partition, entity by entity in the mapping's load order.

    Keeps, for each entity other rows refer to, its key values and their partitions (key columns only), so that
    a child row can follow its parent.
    """

    mapping_set: MappingSet
    rules: BookRules
    partitions: int
    parents: dict[tuple[str, str], tuple[pa.Array, np.ndarray]] = field(default_factory=dict)
    main: dict[str, tuple[pa.Table, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the partition count."""
        check_partitions(self.partitions)

    def _referenced(self, entity: str) -> set[str]:
        """The columns of `entity` another entity's first reference names."""
        out = set()
        for spec in self.mapping_set.entities.values():
            first = next((f.references for f in spec.fields if f.references), None)
            if first and first.split(".")[0] == entity:
                out.add(first.split(".")[1])
        return out

    def _person_key(self, entity: str, raw: pa.Table) -> pa.Array | None:
        """The R17 match key of each row of the merged entity (null where the row has no ID)."""
        rule = self.rules.merge_duplicates
        if rule is None or rule.entity != entity:
            return None
        import pyarrow as pa

        from booktransfer.validate.book import match_keys

        table = pa.table({rule.id_type_column: _mapped_column(self.mapping_set, entity, raw, rule.id_type_column),
                          rule.id_column: _mapped_column(self.mapping_set, entity, raw, rule.id_column)})
        return match_keys(table, rule)

    def route(self, entity: str, raw: pa.Table) -> np.ndarray:
        """The partition of each row of an entity's main file; remembers what children will need."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        spec = self.mapping_set.entities[entity]
        first = next((f for f in spec.fields if f.references), None)
        if first is None:  # by its own key, or by the person (R17 match key) where the row has one
            own = _text_key([_mapped_column(self.mapping_set, entity, raw, k) for k in spec.key])
            person = self._person_key(entity, raw)
            by_own = np.ones(raw.num_rows, bool) if person is None else np.asarray(pc.is_null(person))
            parts = np.zeros(raw.num_rows, np.int32)
            parts[by_own] = buckets(own.filter(pa.array(by_own)), self.partitions)
            if person is not None:
                parts[~by_own] = buckets(person.filter(pa.array(~by_own)), self.partitions)
        else:  # with its parent, or by the reference's hash where the parent is not in the book
            parent, column = first.references.split(".")
            values = _mapped_column(self.mapping_set, entity, raw, first.target)
            keys, parent_parts = self.parents[(parent, column)]
            where = pc.index_in(values, value_set=keys)
            found = np.asarray(pc.is_valid(where))
            parts = np.zeros(raw.num_rows, np.int32)
            parts[found] = parent_parts[np.asarray(where.drop_null()).astype(np.int64)]
            parts[~found] = buckets(values.filter(pa.array(~found)), self.partitions)
        for column in self._referenced(entity):
            values = _mapped_column(self.mapping_set, entity, raw, column)
            self.parents[(entity, column)] = (values.cast(pa.string()), parts)
        if spec.source.joins:
            self.main[entity] = (raw, parts)
        return parts

    def route_joined(self, entity: str, alias: str, joined: pa.Table) -> np.ndarray:
        """The partition of each row of a joined file: that of the main-file row it joins, else its key's hash."""
        import numpy as np
        import pyarrow.compute as pc

        join = next(j for j in self.mapping_set.entities[entity].source.joins if j.alias == alias)
        raw, parts = self.main[entity]
        main_keys = pc.utf8_trim_whitespace(raw.column(join.left_on).combine_chunks())
        keys = pc.utf8_trim_whitespace(joined.column(join.right_on).combine_chunks())
        where = pc.index_in(keys, value_set=main_keys)
        found = np.asarray(pc.is_valid(where))
        via_main = parts[np.asarray(pc.fill_null(where, 0))] if len(main_keys) else np.zeros(len(keys), np.int32)
        return np.where(found, via_main, buckets(keys, self.partitions)).astype(np.int32)


def with_partitions(tables: list[pa.Table]) -> pa.Table:
    """Each partition's table (in partition order) with its partition number in `PART_COLUMN`, as one table."""
    import numpy as np
    import pyarrow as pa

    return pa.concat_tables([t.append_column(PART_COLUMN, pa.array(np.full(t.num_rows, p, np.int32)))
                             for p, t in enumerate(tables)])


def split(table: pa.Table, parts: np.ndarray, partitions: int) -> list[pa.Table]:
    """The rows of each partition, in their original order."""
    import numpy as np
    import pyarrow as pa

    order = np.argsort(parts, kind="stable")
    bounds = np.searchsorted(parts[order], np.arange(partitions + 1))
    return [table.take(pa.array(order[bounds[p]:bounds[p + 1]])) for p in range(partitions)]


def partition_sizes(parts: np.ndarray, partitions: int) -> list[int]:
    """Rows per partition."""
    import numpy as np

    return np.bincount(parts, minlength=partitions).astype(int).tolist()


def routing_summary(rows: dict[str, list[int]]) -> dict[str, Any]:
    """Rows per entity and partition, with the largest partition's share of its entity (for extract.json)."""
    out: dict[str, Any] = {}
    for name, sizes in rows.items():
        total = sum(sizes)
        out[name] = {"rows": sizes, "largest_share": round(max(sizes) / total, 4) if total else 0.0}
    return out


@dataclass
class RoutingWriter:
    """Extract's stage writer for a partitioned run: routes each staged file's rows and writes one file per
    partition (`path_of(partition, name)`), never the whole book in one file. Files must come in the mapping's
    load order, an entity's main file before its joined files (as extract stages them)."""

    router: Router
    write: Any
    path_of: Any
    rows: dict[str, list[int]] = field(default_factory=dict)

    def __call__(self, table: pa.Table, path: Any) -> None:
        """Route and write one staged file."""
        stem = path.name.removesuffix(".parquet")
        entity, _, alias = stem.partition(".")
        parts = self.router.route_joined(entity, alias, table) if alias else self.router.route(entity, table)
        pieces = split(table, parts, self.router.partitions)
        # Two partitions' files are written at a time: Parquet encoding and encryption run outside the GIL.
        with ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="extract-write") as pool:
            for done in [pool.submit(self.write, piece, self.path_of(p, stem)) for p, piece in enumerate(pieces)]:
                done.result()
        self.rows[stem] = partition_sizes(parts, self.router.partitions)
