"""Load a mapping set folder into validated models, with errors that name the file and the field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from booktransfer.errors import MappingError
from booktransfer.mapping.model import CodeTable, EntityMapping, MappingSetSpec

SET_FILE = "mapping_set.yaml"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class MappingSet:
    """A loaded mapping set: its spec, one mapping per entity (in load order) and its code tables."""

    path: Path
    spec: MappingSetSpec
    entities: dict[str, EntityMapping]
    codes: dict[str, CodeTable]

    @property
    def version(self) -> str:
        """The set's declared version, recorded in every report."""
        return self.spec.version


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # safe_load, in C when it can
    except FileNotFoundError as e:
        raise MappingError(f"{path}: file not found") from e
    except yaml.YAMLError as e:
        raise MappingError(f"{path}: not valid YAML: {e}") from e


def _parse(model: type[M], path: Path) -> M:
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise MappingError(f"{path}: {problems}") from None


def load_mapping_set(path: Path | str) -> MappingSet:
    """Read `mapping_set.yaml`, every entity file it lists and every code table they use."""
    root = Path(path)
    spec = _parse(MappingSetSpec, root / SET_FILE)
    entities = {}
    for name in spec.entities:
        mapping = _parse(EntityMapping, root / f"{name}.yaml")
        if mapping.entity != name:
            raise MappingError(f"{root / f'{name}.yaml'}: entity is {mapping.entity!r}, expected {name!r}")
        entities[name] = mapping
    codes = {}
    for mapping in entities.values():
        for field in mapping.fields:
            if field.lookup and field.lookup not in codes:
                table = _parse(CodeTable, root / "codes" / f"{field.lookup}.yaml")
                codes[field.lookup] = table
    _check_references(root, entities)
    if not spec.drop.header:
        for name, mapping in entities.items():
            files = [mapping.source, *mapping.source.joins]
            if any(not f.columns for f in files):
                raise MappingError(f"{root / f'{name}.yaml'}: the drop has no header lines, so source.file and "
                                   "every join must declare 'columns'")
    return MappingSet(path=root, spec=spec, entities=entities, codes=codes)


def _check_references(root: Path, entities: dict[str, EntityMapping]) -> None:
    order = list(entities)
    for name, mapping in entities.items():
        for field in mapping.fields:
            if not field.references:
                continue
            parent, column = field.references.split(".")
            if parent not in entities or order.index(parent) >= order.index(name):
                raise MappingError(
                    f"{root / f'{name}.yaml'}: field {field.target} references {parent!r}, "
                    "which must be an entity listed before it in mapping_set.yaml"
                )
            if column not in {f.target for f in entities[parent].fields}:
                raise MappingError(
                    f"{root / f'{name}.yaml'}: field {field.target} references unknown column {field.references}"
                )
