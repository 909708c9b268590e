"""`expectations/<schema>/book_rules.yaml`: the buyer schema's rules across entities (merges, aggregates)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from booktransfer.errors import ValidationFailed

BOOK_RULES_FILE = "book_rules.yaml"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MergeDuplicates(_Spec):
    """R17: rows of `entity` with the same normalised ID number are one person, merged into a survivor."""

    entity: str
    key: str
    id_type_column: str
    id_column: str
    resident_id_type: str = "RIC"
    same_person: tuple[str, ...] = ()
    lineage_column: str


class RequiredChild(_Spec):
    """A child row the parent must have in the seller's data (e.g. role = INSURED)."""

    column: str
    value: str


class Aggregate(_Spec):
    """A parent row loads only together with every child row that refers to it."""

    parent: str
    parent_key: str
    child: str
    child_key: str
    required_child: RequiredChild | None = None


class BookRules(_Spec):
    """All book-level rules of one buyer schema."""

    merge_duplicates: MergeDuplicates | None = None
    aggregates: tuple[Aggregate, ...] = ()


def load_book_rules(suite_dir: Path) -> BookRules:
    """The schema's book rules; none when the schema ships no book_rules.yaml."""
    path = suite_dir / BOOK_RULES_FILE
    if not path.is_file():
        return BookRules()
    try:
        return BookRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as e:
        raise ValidationFailed(f"{path}: not a valid book rules file: {e}") from None
