"""The mapping language: what a data engineer writes in `mappings/<set>/*.yaml`, as pydantic models.

A mapping set names the buyer schema it targets, says how the seller's drop is written, and holds one
entity mapping per buyer table. Every source column is either mapped or ignored with a reason.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SnakeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


class Classification(StrEnum):
    """What kind of data a field holds (REQUIREMENTS R08, R09)."""

    IDENTIFIER = "identifier"
    PERSONAL = "personal"
    SENSITIVE = "sensitive"
    FINANCIAL = "financial"
    CONSENT = "consent"
    PUBLIC = "public"


class Protection(StrEnum):
    """How a field is protected before it reaches the buyer."""

    KEEP = "keep"
    TOKEN = "token"
    ENCRYPT = "encrypt"
    ENCRYPT_TOKEN = "encrypt+token"
    GENERALIZE = "generalize"
    DROP = "drop"


class FieldType(StrEnum):
    """The buyer-side type of a mapped value."""

    STRING = "string"
    DATE = "date"
    TIMESTAMP = "timestamp"
    DECIMAL = "decimal"
    INTEGER = "integer"


class Normalizer(StrEnum):
    """Representation-only clean-ups, applied in the order listed (never NFKC on names)."""

    TRIM = "trim"
    COLLAPSE_SPACES = "collapse_spaces"
    FULLWIDTH_ASCII = "fullwidth_ascii"
    UPPER = "upper"
    UPPER_X = "upper_x"
    NAME_SEPARATOR = "name_separator"


class Generalization(StrEnum):
    """How a `generalize` field is coarsened (REQUIREMENTS R26)."""

    YEAR = "year"
    AGE_BAND = "age_band"
    CITY = "city"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnknownDefault(_Spec):
    """Replace a code missing from its table with a named default value."""

    default: str


class SplitSpec(_Spec):
    """Take one part of a source column split on a separator (a missing part rejects the row)."""

    source: str
    separator: Annotated[str, StringConstraints(min_length=1)]
    index: int = Field(ge=0)


class FieldSpec(_Spec):
    """One buyer column and where its value comes from: a source column, a constant, a concat or a split."""

    target: SnakeName
    source: str | None = None
    const: str | None = None
    concat: tuple[str, ...] | None = Field(default=None, min_length=2)
    separator: str = ""
    split: SplitSpec | None = None
    type: FieldType = FieldType.STRING
    format: str | tuple[str, ...] | None = None
    excel_serial: bool = False
    normalize: tuple[Normalizer, ...] = ()
    lookup: str | None = None
    unknown: Literal["reject"] | UnknownDefault = "reject"
    classification: Classification
    protection: Protection
    allow_clear: str | None = None
    token_namespace: SnakeName | None = None
    deterministic: bool = False
    generalize: Generalization | None = None
    references: str | None = None
    description: str = ""

    @property
    def formats(self) -> tuple[str, ...]:
        """The declared date/timestamp formats, tried in order."""
        if self.format is None:
            return ()
        return (self.format,) if isinstance(self.format, str) else self.format

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The source columns this field reads (`alias.Column` for a joined file)."""
        if self.source is not None:
            return (self.source,)
        if self.concat is not None:
            return self.concat
        if self.split is not None:
            return (self.split.source,)
        return ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        given = [k for k in ("source", "const", "concat", "split") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'source', 'const', 'concat' or 'split'")
        if self.type in (FieldType.DATE, FieldType.TIMESTAMP) and not self.formats:
            raise ValueError(f"a {self.type} field needs a 'format' such as %Y%m%d")
        if self.excel_serial and self.type is not FieldType.DATE:
            raise ValueError("'excel_serial: true' applies to date fields only")
        clear = self.protection is Protection.KEEP
        if clear and self.classification in _NEEDS_PROTECTION and not self.allow_clear:
            raise ValueError(
                f"a {self.classification} field may not be kept in clear without 'allow_clear: <reason>'"
            )
        if self.deterministic and self.protection not in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN):
            raise ValueError("'deterministic: true' (AES-SIV, for equality lookup) applies to encrypt only")
        if (self.protection is Protection.GENERALIZE) != (self.generalize is not None):
            raise ValueError("protection 'generalize' needs 'generalize: year|age_band|city', and only it")
        if self.references is not None and self.references.count(".") != 1:
            raise ValueError("'references' must read <entity>.<column>")
        return self


_NEEDS_PROTECTION = {Classification.PERSONAL, Classification.SENSITIVE}


class IgnoredColumn(_Spec):
    """A source column that is deliberately not transferred (data minimisation, PIPL Art. 6)."""

    column: str
    reason: Annotated[str, StringConstraints(min_length=10)]


class JoinSpec(_Spec):
    """A second file merged into the entity: each of its rows belongs to exactly one row of the main file."""

    alias: SnakeName
    file: str
    left_on: str
    right_on: str
    how: Literal["left", "inner"] = "left"
    columns: tuple[str, ...] = ()


class SourceFile(_Spec):
    """Which file of the drop feeds an entity (a name or a glob pattern matching one file), and its joins."""

    file: str
    columns: tuple[str, ...] = ()
    joins: tuple[JoinSpec, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        aliases = [j.alias for j in self.joins]
        if len(set(aliases)) != len(aliases):
            raise ValueError("join aliases must be unique")
        return self


class EntityMapping(_Spec):
    """One YAML file: how one buyer table is filled from the seller's drop."""

    entity: SnakeName
    description: str = ""
    source: SourceFile
    key: tuple[SnakeName, ...] = Field(min_length=1)
    fields: tuple[FieldSpec, ...] = Field(min_length=1)
    ignored: tuple[IgnoredColumn, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        targets = [f.target for f in self.fields]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"target columns mapped twice: {', '.join(dupes)}")
        missing = [k for k in self.key if k not in targets]
        if missing:
            raise ValueError(f"key columns not mapped: {', '.join(missing)}")
        mapped = {c for f in self.fields for c in f.source_columns}
        both = sorted(mapped & {i.column for i in self.ignored})
        if both:
            raise ValueError(f"source columns both mapped and ignored: {', '.join(both)}")
        aliases = {j.alias for j in self.source.joins}
        for column in mapped | {i.column for i in self.ignored}:
            alias = split_column(column)[0]
            if alias and alias not in aliases:
                raise ValueError(f"column {column!r} names join alias {alias!r}, which source.joins does not declare")
        return self

    @property
    def source_columns(self) -> set[str]:
        """Every source column this mapping accounts for, mapped or ignored (`alias.Column` for joins)."""
        return {c for f in self.fields for c in f.source_columns} | {i.column for i in self.ignored}

    def _join_keys(self, alias: str) -> set[str]:
        if alias:
            return {j.right_on for j in self.source.joins if j.alias == alias}
        return {j.left_on for j in self.source.joins}

    def columns_of(self, alias: str) -> set[str]:
        """The accounted-for columns of one file (main file for alias ''): mapped, ignored or join keys."""
        own = {split_column(c)[1] for c in self.source_columns if split_column(c)[0] == alias}
        return own | self._join_keys(alias)

    def mapped_columns_of(self, alias: str) -> set[str]:
        """The columns of one file that some field or join reads (they must be present in the file)."""
        own = {split_column(c)[1] for f in self.fields for c in f.source_columns if split_column(c)[0] == alias}
        return own | self._join_keys(alias)


def split_column(column: str) -> tuple[str, str]:
    """`addr.Street` -> ('addr', 'Street'); `Street` -> ('', 'Street'). Join aliases are snake_case."""
    head, dot, tail = column.partition(".")
    if dot and head and head.replace("_", "").isalnum() and head == head.lower() and tail:
        return head, tail
    return "", column


class ControlFileSpec(_Spec):
    """The seller's control file and its format.

    `pipe`: lines `file|rows|sha256`. `json`: `{"files": [{"name", "rows", "sha256"}]}`. `trailer`: no
    control file; each data file ends with a trailer record `<trailer_prefix><delimiter><rows>` (row count
    only, no checksum — the report says so).
    """

    name: str = "CONTROL.txt"
    format: Literal["pipe", "json", "trailer"] = "pipe"
    trailer_prefix: str = "TRL"


class DropSpec(_Spec):
    """How the seller writes its export."""

    encoding: Literal["utf-8", "utf-8-sig", "gb18030"] = "utf-8"
    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ","
    quotechar: Annotated[str, StringConstraints(min_length=1, max_length=1)] = '"'
    header: bool = True
    control_file: ControlFileSpec = ControlFileSpec()


class MappingSetSpec(_Spec):
    """`mapping_set.yaml`: the set's identity and the drop format."""

    name: SnakeName
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
    description: str = ""
    buyer_schema: SnakeName
    drop: DropSpec = DropSpec()
    entities: tuple[SnakeName, ...] = Field(min_length=1)


class CodeTable(_Spec):
    """`codes/<name>.yaml`: the seller's codes and the buyer's value for each."""

    name: SnakeName
    description: str = ""
    values: dict[str, str]
