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
    FULLWIDTH_ASCII = "fullwidth_ascii"
    UPPER = "upper"
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


class FieldSpec(_Spec):
    """One buyer column and where its value comes from."""

    target: SnakeName
    source: str | None = None
    const: str | None = None
    type: FieldType = FieldType.STRING
    format: str | None = None
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

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.source is None) == (self.const is None):
            raise ValueError("give exactly one of 'source' or 'const'")
        if self.type in (FieldType.DATE, FieldType.TIMESTAMP) and not self.format:
            raise ValueError(f"a {self.type} field needs a 'format' such as %Y%m%d")
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


class SourceFile(_Spec):
    """Which file of the drop feeds an entity."""

    file: str


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
        mapped = {f.source for f in self.fields if f.source}
        both = sorted(mapped & {i.column for i in self.ignored})
        if both:
            raise ValueError(f"source columns both mapped and ignored: {', '.join(both)}")
        return self

    @property
    def source_columns(self) -> set[str]:
        """Every source column this mapping accounts for, mapped or ignored."""
        return {f.source for f in self.fields if f.source} | {i.column for i in self.ignored}


class ControlFileSpec(_Spec):
    """The seller's control file: its name and line format."""

    name: str = "CONTROL.txt"
    format: Literal["pipe"] = "pipe"


class DropSpec(_Spec):
    """How the seller writes its export."""

    encoding: Literal["utf-8", "utf-8-sig", "gb18030"] = "utf-8"
    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ","
    quotechar: Annotated[str, StringConstraints(min_length=1, max_length=1)] = '"'
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
