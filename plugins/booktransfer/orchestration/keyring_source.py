"""The keyring of a DAG run: from the `booktransfer_keyring` Airflow connection, else the local default.

An operator holds the keyring document (see `booktransfer.protect.keyring`) in the secrets backend as the
connection `booktransfer_keyring`: in its password (preferred: Airflow masks connection passwords), or in
its extra, either as the keyring document itself or under the key `keyring`. Airflow resolves the
connection through its secrets backends (Vault, AWS Secrets Manager, …), environment variables
(`AIRFLOW_CONN_BOOKTRANSFER_KEYRING`) or the metadata DB, in its usual order. Without such a connection,
the run uses `BOOKTRANSFER_KEYRING_JSON`, `BOOKTRANSFER_KEYRING` or `var/keys/keyring.json` (the demo).

The keyring never goes through params or XCom: each task resolves it here and hands it to the pipeline
in memory (`RunContext.keys`). Every key is registered with Airflow's secrets masker first, so a key
that somehow reached a log line would show as `***`. Logs name the keyring's origin and key ids only.

Imported at DAG parse time: Airflow is imported only inside functions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from booktransfer.errors import KeyringError

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext
    from booktransfer.protect.keyring import Keyring

KEYRING_CONN_ID = "booktransfer_keyring"
log = logging.getLogger(__name__)


def keyring_text(conn: Any, conn_id: str = KEYRING_CONN_ID) -> str:
    """The keyring document held by a connection: its password, else its extra (whole, or under `keyring`)."""
    if conn.password:
        return str(conn.password)
    extra = conn.extra_dejson or {}
    if "keyring" in extra:
        held = extra["keyring"]
        return held if isinstance(held, str) else json.dumps(held)
    if "format" in extra:
        return json.dumps(extra)
    raise KeyringError(f"connection {conn_id}: no keyring; put the keyring document in its password "
                       "(or in its extra, under 'keyring')")


def _mask(ring: Keyring, text: str | None = None) -> None:
    """Register every key (base64 and hex) and the keyring text with Airflow's secrets masker."""
    import base64

    from airflow.sdk.log import mask_secret

    if text:
        mask_secret(text)
    for keyset in (ring.token, ring.encryption, ring.audit, ring.deterministic, ring.staging):
        for key in (keyset.keys.values() if keyset is not None else ()):
            mask_secret(base64.b64encode(key).decode("ascii"))
            mask_secret(key.hex())


def resolve_keyring(conn_id: str = KEYRING_CONN_ID) -> tuple[Keyring, str]:
    """The run's keyring and where it came from (a name, never content)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from booktransfer.protect.keyring import keyring_from_json, keyring_origin, load_keyring

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        ring, text, origin = load_keyring(), None, keyring_origin()
    else:
        text, origin = keyring_text(conn, conn_id), f"Airflow connection {conn_id}"
        ring = keyring_from_json(text, f"the keyring in {origin}")
    _mask(ring, text)
    return ring, origin


def with_keyring(ctx: RunContext, conn_id: str = KEYRING_CONN_ID) -> RunContext:
    """The run context with the keyring handed over in memory; logs the origin and key ids."""
    ring, origin = resolve_keyring(conn_id)
    log.info("keyring from %s; key ids %s", origin, ring.key_ids)
    return replace(ctx, keys=ring)
