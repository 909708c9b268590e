-- The example buyer schema. Portable SQL: runs as is on PostgreSQL and SQLite.
-- Every table carries the transfer it came from and the seller's source line (lineage).
-- Protected columns: id_number holds a keyed HMAC token; name, mobile and address hold
-- AES-256-GCM ciphertexts tagged with their key id (booktransfer decrypt reads them back).
-- row_fingerprint: HMAC-SHA256 under the transfer's audit key of the row as mapped, before protection
-- (docs/protection.md); reconciliation checks the decrypted row against the bytes it covers.

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
    merged_customer_nos TEXT,  -- R17 lineage: the seller's other customer numbers of this person, merged here
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

-- Consent carried over: one row per natural person and purpose (docs/loading-and-consent.md).
-- state: GRANTED | WITHDRAWN | REFUSED | UNKNOWN; legal_basis: CONTRACT | CONSENT | NONE;
-- allowed: whether the buyer may process the person's data for the purpose; reason: why (or why not);
-- decided_*: the consent event that decided the state (none when no event did).
CREATE TABLE IF NOT EXISTS consent_status (
    transfer_id          TEXT NOT NULL,
    customer_no          TEXT NOT NULL,
    purpose              TEXT NOT NULL,
    state                TEXT NOT NULL,
    legal_basis          TEXT NOT NULL,
    declared             BOOLEAN NOT NULL,
    allowed              BOOLEAN NOT NULL,
    reason               TEXT NOT NULL,
    guardian_required    BOOLEAN NOT NULL,
    decided_event_no     TEXT,
    decided_at           TIMESTAMP,
    decided_channel      TEXT,
    decided_evidence_ref TEXT,
    decided_source       TEXT,
    decided_source_line  INTEGER,
    PRIMARY KEY (transfer_id, customer_no, purpose)
);

-- PIPL Art. 22 notices: one row per natural person loaded. mobile and address are the same AES-256-GCM
-- ciphertexts as in customers. channel: SMS | POST | VIA_POLICYHOLDER | NONE; status: PENDING | NO_CHANNEL
-- (the buyer's mail house moves it on to SENT, RETURNED or EXEMPT:<reason>).
CREATE TABLE IF NOT EXISTS notification_manifest (
    transfer_id       TEXT NOT NULL,
    customer_no       TEXT NOT NULL,
    roles             TEXT NOT NULL,
    addressee         TEXT NOT NULL,
    channel           TEXT NOT NULL,
    via_customer_no   TEXT,
    mobile            TEXT,
    address           TEXT,
    recipient_name    TEXT NOT NULL,
    recipient_contact TEXT NOT NULL,
    status            TEXT NOT NULL,
    source_line       INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, customer_no)
);

-- Persons who asked for erasure or objected but are under a statutory retention hold: loaded, storage only.
-- hold_until NULL: a contract is still in force.
CREATE TABLE IF NOT EXISTS processing_restrictions (
    transfer_id  TEXT NOT NULL,
    customer_no  TEXT NOT NULL,
    restriction  TEXT NOT NULL,
    request_type TEXT NOT NULL,
    request_ref  TEXT,
    hold_until   DATE,
    basis        TEXT NOT NULL,
    source_line  INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, customer_no)
);

-- The loader's own bookkeeping (created when missing, even in an existing buyer schema).
-- One row per run and table, written in the table's own transaction. Times are UTC.
CREATE TABLE IF NOT EXISTS transfer_runs (
    transfer_id     TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    entity          TEXT NOT NULL,
    mapping_set     TEXT NOT NULL,
    mapping_version TEXT NOT NULL,
    code_version    TEXT NOT NULL,
    action          TEXT NOT NULL,
    rows_loaded     INTEGER NOT NULL,
    rows_written    INTEGER NOT NULL,
    rows_replaced   INTEGER NOT NULL,
    rows_digest     TEXT NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (transfer_id, run_id, entity)
);

-- Non-PostgreSQL targets: who is loading a transfer right now (PostgreSQL uses an advisory lock).
CREATE TABLE IF NOT EXISTS transfer_locks (
    transfer_id TEXT NOT NULL PRIMARY KEY,
    run_id      TEXT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at TIMESTAMP NOT NULL
);
