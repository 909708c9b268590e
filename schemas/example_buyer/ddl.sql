-- The example buyer schema. Portable SQL: runs as is on PostgreSQL and SQLite.
-- Every table carries the transfer it came from and the seller's source line (lineage).
-- Protected columns: id_number holds a keyed HMAC token; name, mobile and address hold
-- AES-256-GCM ciphertexts tagged with their key id (booktransfer decrypt reads them back).
-- row_fingerprint: HMAC-SHA256 under the transfer's audit key of the row as mapped, before protection
-- (docs/protection.md); reconciliation re-computes it from the decrypted row to prove nothing was altered.

CREATE TABLE IF NOT EXISTS customers (
    transfer_id     TEXT NOT NULL,
    customer_no     TEXT NOT NULL,
    customer_type   TEXT NOT NULL,
    id_type         TEXT NOT NULL,
    id_number       TEXT NOT NULL,
    name            TEXT NOT NULL,
    gender          TEXT,
    birth_date      DATE,
    mobile          TEXT,
    address         TEXT,
    postcode        TEXT,
    source_line     INTEGER NOT NULL,
    row_fingerprint TEXT NOT NULL,
    PRIMARY KEY (transfer_id, customer_no)
);

CREATE TABLE IF NOT EXISTS policies (
    transfer_id        TEXT NOT NULL,
    policy_no          TEXT NOT NULL,
    holder_customer_no TEXT NOT NULL,
    product_code       TEXT NOT NULL,
    status             TEXT NOT NULL,
    issue_date         DATE NOT NULL,
    expiry_date        DATE,
    annual_premium     NUMERIC(18, 2) NOT NULL,
    sum_insured        NUMERIC(18, 2) NOT NULL,
    source_line        INTEGER NOT NULL,
    row_fingerprint    TEXT NOT NULL,
    PRIMARY KEY (transfer_id, policy_no)
);

CREATE TABLE IF NOT EXISTS policy_parties (
    transfer_id        TEXT NOT NULL,
    policy_no          TEXT NOT NULL,
    customer_no        TEXT NOT NULL,
    role               TEXT NOT NULL,
    relation_to_holder TEXT,
    beneficiary_order  INTEGER,
    benefit_share_pct  NUMERIC(5, 2),
    source_line        INTEGER NOT NULL,
    row_fingerprint    TEXT NOT NULL,
    PRIMARY KEY (transfer_id, policy_no, customer_no, role)
);

CREATE TABLE IF NOT EXISTS consents (
    transfer_id   TEXT NOT NULL,
    event_no      TEXT NOT NULL,
    customer_no   TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    action        TEXT NOT NULL,
    event_time    TIMESTAMP NOT NULL,
    channel       TEXT,
    evidence_ref  TEXT,
    source_line   INTEGER NOT NULL,
    row_fingerprint TEXT NOT NULL,
    PRIMARY KEY (transfer_id, event_no)
);

CREATE TABLE IF NOT EXISTS transfer_runs (
    transfer_id     TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    mapping_set     TEXT NOT NULL,
    mapping_version TEXT NOT NULL,
    entity          TEXT NOT NULL,
    rows_loaded     INTEGER NOT NULL,
    loaded_at       TEXT NOT NULL,
    PRIMARY KEY (transfer_id, run_id, entity)
);
