"""The operator's documentation shown in Airflow: the DAG's page and each task's (`doc_md`).

Each task says what it does and what to do when it fails; README.md "Running a transfer" is the long form.
"""

from __future__ import annotations

DAG_DOC = """\
# Transfer a customer book to the buyer

Start it with **Trigger** and fill in the form (sections Transfer, Source, Target, Parties, Compliance,
Consent/requests/notices, Alerts), or POST a conf to the REST API (`booktransfer settings render FILE.yaml`
prints one from a settings file). Nothing in the form is a password or a customer's data.

1. **compliance_gate** checks the settings (impact assessment, purposes, legal route, cross-border).
2. **wait_for_drop** waits for the seller's control file; **extract** lands and checks the files.
3. **map_rows**, **validate**, **protect**: buyer's shape, quality rules (bad rows quarantined), tokens and
   encryption.
4. **plan_load** checks the target and works out exactly what would load.
5. **approve_load** waits for an operator: approve to load, reject to load nothing. A dry run skips it and the
   load (**load_or_dry_run**).
6. **load** writes the buyer's tables; **reconcile** proves source = loaded + quarantined (+ suppressed, merged)
   and writes `reports/<transfer_id>/<run_id>/` (reconciliation.json/.html, signed MANIFEST).

**Re-running is safe.** Clear a failed task (with its downstream tasks) once its cause is fixed: every stage
rewrites its own files under the run's staging folder, the load writes nothing twice, the report is rewritten.
A failure sends an alert (param `alert_conn_id`) naming the run, the task and the failing check. What to do
for each failure: the task's own page, and README.md, "Running a transfer".
"""

TASK_DOCS = {
    "compliance_gate": """\
**Checks the settings before any data moves**: the impact assessment (PIPIA) reference and approval date (not
after the run, at most a year old on the run's date or the as-of date), the buyer's purposes against the
legal route and the seller's consents (R05), and every cross-border destination (R32). Writes the run's
`settings.json` and `compliance.json` (staging folder), which the report carries.

**When it fails** the log and the alert list every problem with its code. Correct the form (a new or
re-approved assessment, a purpose removed or a re-consent file named, a mechanism and its reference for a
destination) and trigger a new run; do not clear this one, its settings are fixed at trigger time.""",
    "wait_for_drop": """\
**Waits for the seller's control file**, which marks the drop complete (local folder or SFTP; between looks it
frees its worker slot). An unreachable server counts as "not yet".

**When it fails**: *timeout* - the seller has not finished the drop; ask them, then clear this task. *Host key
does not match* - the server is not the pinned one: stop, ask the seller for the new key over a separate channel,
check its fingerprint, update the connection's `host_key`, then clear the task (the event is in
`security_events.jsonl`). *Unsafe connection* - the connection lacks `host_key` or turns checks off: fix it.""",
    "extract": """\
**Lands the seller's files and checks them against the control file**: every file present, SHA-256 and row
count equal, strict decoding, every column accounted for by the mapping. Retries I/O errors 3 times with backoff.

**When it fails**: *control file / checksum / row count mismatch* - the files were altered or cut short
(recorded as a security event): ask the seller to drop again, then clear this task. *Unclassified column* - the
seller added a column: a data engineer maps it or lists it as dropped, then trigger a new run.""",
    "map_rows": """\
**Applies the mapping set** to one partition's rows (one task instance per partition) to reach the buyer's
schema; a value it cannot translate sends the row to quarantine (field, reason, source file:line).

**When it fails**: the mapping set is broken for this drop (the message names file, column, line): a data
engineer fixes `mappings/<set>/` (`booktransfer mapping lint`), then clear this task.""",
    "validate": """\
**Runs the buyer schema's quality rules** on one partition (Great Expectations suites; one task instance per
partition); failing rows are marked with rule and reason code. validate_book then applies the rules that span
the book and writes `validation.json` and Data Docs to the report folder.

**When it fails**: *table-level check* - e.g. a row count off or a value outside a code list: see the message
(file and rule), fix the drop or the mapping, then trigger a new run. Other errors name the partition's file:
clear this instance once fixed.""",
    "validate_book": """\
**Applies the book-level rules across every partition** once each partition's suites ran: key uniqueness over
the whole book, the merge of one person held under two customer numbers (R17), references and whole policies;
writes each partition's valid rows, the quarantine, `validation.json` and Data Docs; applies `max_reject_rate`.

**When it fails**: *reject rate above max_reject_rate* - too many of the seller's rows are defective: read
`validation.json` and the Data Docs, ask the seller to correct and re-deliver (new run), or - with the data
owner's sign-off - trigger again with a higher threshold. A missing partition file: clear the failed
`validate` instance first.""",
    "protect": """\
**Protects personal data**: keyed tokens for ID numbers, AES-GCM for names and addresses, AES-SIV for mobiles,
a fingerprint per row; reports ID numbers or mobiles found in fields kept in clear.

**When it fails**: usually the keyring (connection `booktransfer_keyring`) is missing or lacks a key: fix the
secrets backend, then clear this task.""",
    "plan_load": """\
**Works out exactly what would load and checks the target** without writing to it: purposes against consents,
data-subject requests, consent per person and purpose, the notice manifest, the target's schema. Retries I/O
errors 3 times with backoff.

**When it fails**: *schema mismatch* - the buyer's tables differ from the schema: the DBA fixes the target, then
clear this task. *Purpose not permitted* - see the compliance settings. *Target unreachable* after the retries:
check the connection, then clear this task.""",
    "plan_partition": """\
**Builds one partition's share of the load plan** after plan_load decided what needs the whole book: consent per
person and purpose, the notice manifest and the restrictions of the partition's persons (staged, encrypted), and
checks every table the partition would load against the target without writing to it.

**When it fails**: *schema mismatch* - the buyer's tables differ from the schema: the DBA fixes the target, then
clear this task. *Target unreachable* after the retries: check the connection, then clear this task.""",
    "load_or_dry_run": """\
**Chooses the path**: a dry run goes straight to the report (approval and load are skipped, which is not a
failure); any other run goes to the approval.""",
    "approve_load": """\
**Waits for an operator's decision** (Required actions, or the REST API) showing the validation counts, reject
reasons by code, the load plan and the compliance verdict - no customer data. Approve: the load runs. Reject:
nothing is loaded and the run fails as rejected. No answer within the timeout (default 72 h) fails the same way.

**When it fails** (rejected or timed out): nothing was loaded. Fix what made you reject, then trigger a new run;
or, to reconsider this run, clear this task and answer again.""",
    "load": """\
**Writes one partition's share of the buyer's tables** (one task instance per partition, side by side): one
transaction per table share under the transfer's lock, which refuses any other run; a re-run writes nothing
twice. Retries a dropped connection 3 times with backoff (the interrupted table rolled back).

**When it fails**: *another run is loading this transfer* - wait for it, then clear this task. *Target
unreachable* after the retries - fix the database or connection, then clear this task.""",
    "verify": """\
**Checks one partition's share of the buyer's tables record by record** once every partition loaded: each row read
back from the target, decrypted and compared byte for byte with the serialization of the mapped row that its
fingerprint was taken over (missing, unexpected, duplicate or altered rows, by source line). Retries I/O errors 3
times with backoff.

**When it fails**: *target unreachable* after the retries, or a ciphertext that does not decrypt (named by table,
column and source line; possible tampering): check the target, then clear this task. Differences themselves do
not fail it: reconcile reports them.""",
    "reconcile": """\
**Proves nothing was lost or altered**: per entity, source rows = loaded + quarantined (+ suppressed, merged),
record by record from the target itself; control totals; consent distribution. Writes the signed report to
`reports/<transfer_id>/<run_id>/`; its path is this task's XCom (`report_dir`).

**When it fails**: the equation or a record-level check does not hold: read `reconciliation.json` and
`differences.csv`; `booktransfer reload` repairs the listed rows. Do not hand the target over until it passes.""",
}
