"""Protect: apply each field's declared protection before anything reaches the buyer."""

from __future__ import annotations

import pyarrow as pa

from booktransfer.errors import MappingError
from booktransfer.mapping.model import EntityMapping, Protection
from booktransfer.protect.ciphers import encrypt_values, tokens
from booktransfer.protect.keyring import Keyring


def protect_entity(mapping: EntityMapping, table: pa.Table, ring: Keyring) -> pa.Table:
    """Replace protected columns: tokens, ciphertexts (+ a `<column>_token` blind index), or nothing (drop)."""
    out = table
    for spec in mapping.fields:
        name = spec.target
        if spec.protection is Protection.KEEP:
            continue
        if spec.protection is Protection.DROP:
            out = out.drop_columns([name])
            continue
        values = out.column(name).cast(pa.string()).to_pylist()
        idx = out.column_names.index(name)
        if spec.protection is Protection.TOKEN:
            out = out.set_column(idx, name, pa.array(tokens(ring.token_key, spec.token_namespace or name, values)))
        elif spec.protection in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN):
            out = out.set_column(idx, name, pa.array(encrypt_values(ring, name, values), pa.string()))
            if spec.protection is Protection.ENCRYPT_TOKEN:
                index = tokens(ring.token_key, spec.token_namespace or name, values)
                out = out.append_column(f"{name}_token", pa.array(index, pa.string()))
        else:
            raise MappingError(f"{mapping.entity}.{name}: protection {spec.protection} is not implemented yet")
    return out
