"""The `booktransfer` command: sample books, keys, and a whole transfer without Airflow."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from booktransfer.errors import BookTransferError


def _cmd_sample(args: argparse.Namespace) -> int:
    from booktransfer.sample.generator import generate_book

    summary = generate_book(
        Path(args.out), customers=args.customers, seed=args.seed, defect_rate=args.defect_rate,
        encoding=args.encoding, truth_path=Path(args.truth) if args.truth else None, progress=True,
    )
    rows = ", ".join(f"{name} {n}" for name, n in summary.rows.items())
    print(f"wrote {summary.out_dir} in {summary.seconds:.1f} s: {rows}")
    if summary.truth_path:
        print(f"ground truth (keep it out of the drop): {summary.truth_path}")
    return 0


def _cmd_keys_init(args: argparse.Namespace) -> int:
    from booktransfer.protect.keyring import default_keyring_path, write_keyring
    from booktransfer.reconcile.signing import create_signing_key, default_signing_key_path, public_path

    path = Path(args.path) if args.path else default_keyring_path()
    signing = default_signing_key_path()
    if not signing.exists():
        create_signing_key(signing)
        print(f"created report-signing key {signing} (mode 600); give auditors {public_path(signing)}")
    if path.exists() and args.if_missing:
        _complete_keyring(path)
        return 0
    write_keyring(path, overwrite=args.force)
    print(f"created keyring {path} (mode 600); keep it out of version control")
    return 0


def _complete_keyring(path: Path) -> None:
    """Keep an existing keyring, adding the key purposes an older format lacks (never changing a key)."""
    from booktransfer.protect.keyring import complete_document, read_keyring_document, save_keyring_document

    doc, added = complete_document(read_keyring_document(path))
    if added:
        save_keyring_document(path, doc)
        print(f"keyring {path}: added {', '.join(added)} keys (an older format); every existing key kept")
    else:
        print(f"keyring already present: {path}")


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    from booktransfer.protect.keyring import (
        ROTATING,
        KeyPurpose,
        default_keyring_path,
        keyring_origin,
        read_keyring_document,
        rotate_document,
        save_keyring_document,
    )

    purposes = [KeyPurpose(p) for p in args.purpose] if args.purpose else list(ROTATING)
    path = Path(args.path) if args.path else default_keyring_path()
    if args.stdout:
        inline = os.environ.get("BOOKTRANSFER_KEYRING_JSON") if not args.path else None
        source = keyring_origin() if not args.path else f"file {path}"
        rotated, new_ids = rotate_document(json.loads(inline) if inline else read_keyring_document(path), purposes)
        sys.stdout.write(json.dumps(rotated, indent=2) + "\n")
        print(f"rotated the keyring from {source}; store the document above in your secrets backend. New active "
              f"key ids: {', '.join(f'{p} {k}' for p, k in new_ids.items())}", file=sys.stderr)
        return 0
    rotated, new_ids = rotate_document(read_keyring_document(path), purposes)
    save_keyring_document(path, rotated)
    print(f"rotated {path}: new writes use {', '.join(f'{p} {k}' for p, k in new_ids.items())}; "
          "older keys stay to decrypt older data")
    return 0


def _mapping_folder(name: str) -> Path:
    """A mapping set by folder path, or by name under the project's mappings/."""
    from booktransfer.pipeline import project_home

    return Path(name) if Path(name).is_dir() else project_home() / "mappings" / name


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from booktransfer.load.target import engine_for
    from booktransfer.mapping.loader import load_mapping_set
    from booktransfer.protect import decrypt
    from booktransfer.protect.keyring import load_keyring

    mapping = load_mapping_set(_mapping_folder(args.mapping_set)).entities.get(args.table)
    columns = args.columns.split(",") if args.columns else (decrypt.encrypted_columns(mapping) if mapping else [])
    if not columns:
        raise BookTransferError(f"table {args.table}: name the columns to decrypt with --columns")
    ring = load_keyring()
    engine = engine_for(args.target)
    try:
        result = decrypt.decrypt_table(engine, ring, args.table, args.transfer_id, columns,
                                       args.with_columns.split(",") if args.with_columns else None)
        checked = decrypt.verify_fingerprints(engine, ring, mapping, args.transfer_id) if args.verify and mapping \
            else None
    finally:
        engine.dispose()
    if args.verify:
        return _report_verified(args, result, columns, checked)
    text = decrypt.to_csv(result)
    if args.out and args.out != "-":
        print(f"wrote {decrypt.write_private(Path(args.out), text)} (mode 600): {len(result.rows)} rows",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _report_verified(args: argparse.Namespace, result: Any, columns: list[str], checked: dict | None) -> int:
    """Counts only: every value decrypted and authenticated, and how many row fingerprints match."""
    print(f"{args.table} (transfer {args.transfer_id}): {len(result.rows)} rows; {', '.join(columns)} "
          "decrypted and authenticated")
    if checked is None:
        print("row fingerprints: not checked (no mapping for this table)")
        return 0
    print(f"row fingerprints: {checked['fingerprints_match']} of {checked['rows']} match; "
          f"mismatched source lines: {checked['mismatched_source_lines'] or 'none'}")
    return 0 if checked["mismatched"] == 0 else 1


def _cmd_reload(args: argparse.Namespace) -> int:
    from booktransfer import pipeline
    from booktransfer.reconcile.repair import repair

    ctx = pipeline.RunContext(transfer_id=args.transfer_id, run_id=args.run_id, mapping_set=args.mapping_set,
                              target_url=args.target)
    result = repair(ctx, Path(args.keys))
    for entity, done in result["entities"].items():
        print(f"{entity}: {done['lines_requested']} line(s) reloaded, {done['rows_deleted']} target row(s) "
              f"replaced, {done['rows_written']} written")
    print(f"second reconciliation pass: {result['verdict']} — {result['report_dir']}")
    return 0 if result["verdict"] == "PASS" else 1


def _cmd_report_verify(args: argparse.Namespace) -> int:
    from booktransfer.reconcile.manifest import verify_folder
    from booktransfer.reconcile.signing import load_public_key

    folder = Path(args.folder)
    if (folder / "MANIFEST.unsigned").exists():
        print(f"NOT SIGNED: {(folder / 'MANIFEST.unsigned').read_text(encoding='utf-8').strip()}")
        return 1
    result = verify_folder(folder, load_public_key(Path(args.public_key) if args.public_key else None))
    print(result.describe())
    return 0 if result.ok else 1


def _share(text: str) -> float:
    """A number from 0 to 1 (argparse type)."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    from booktransfer import pipeline
    from booktransfer.extract.sources import LocalFolderSource
    from booktransfer.load.settings import TransferSettings, as_of_date

    settings = TransferSettings.from_params({
        "buyer_purposes": args.buyer_purpose, "suppression_file": args.suppression_file,
        "reconsent_file": args.reconsent_file, "recipient_name": args.recipient_name,
        "recipient_contact": args.recipient_contact, "notify_via_policyholder": not args.no_notify_via_policyholder,
    }, Path.cwd())
    ctx = pipeline.RunContext(transfer_id=args.transfer_id, run_id=args.run_id, mapping_set=args.mapping_set,
                              target_url=args.target, dry_run=args.dry_run, settings=settings,
                              as_of=as_of_date(args.as_of_date) if args.as_of_date else None,
                              max_reject_rate=args.max_reject_rate)
    pipeline.run_extract(ctx, LocalFolderSource(args.source))
    for stage in ("map", "validate", "protect", "load", "reconcile"):
        result = getattr(pipeline, f"run_{stage}")(ctx)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_report_latest(args: argparse.Namespace) -> int:
    from booktransfer.pipeline import RunContext

    folder = RunContext(args.transfer_id, "latest", "", "").report_dir.parent
    reports = sorted(folder.glob("*/reconciliation.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        print(f"no report under {folder}", file=sys.stderr)
        return 1
    report = json.loads(reports[-1].read_text(encoding="utf-8"))
    print(f"report: {reports[-1].parent}")
    print(f"verdict: {report['verdict']}  (mapping set {report['mapping_set']} {report['mapping_version']})")
    for entity, b in report["entities"].items():
        mark = "ok" if b["holds"] else "FAILS"
        terms = "loaded + quarantined" + (" + suppressed" if b.get("suppressed") or b.get("merged") else "") + (
            " + merged" if b.get("merged") else "")
        print(f"  {entity:<15} source = {terms}: {b['equation']:<24} {mark}")
    return 0 if report["verdict"] == "PASS" else 1


def _cmd_mapping_schema(args: argparse.Namespace) -> int:
    from booktransfer.mapping.model import CodeTable, EntityMapping, MappingSetSpec

    model = {"entity": EntityMapping, "set": MappingSetSpec, "codes": CodeTable}[args.kind]
    print(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))
    return 0


def _cmd_mapping_lint(args: argparse.Namespace) -> int:
    from booktransfer.mapping.lint import LintUnusable, lint_mapping_set

    try:
        findings = lint_mapping_set(args.mapping_set, source=args.source, target=args.target)
    except LintUnusable as e:
        print(f"booktransfer: cannot lint: {e}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s)" if findings else "mapping set is clean", file=sys.stderr)
    return 1 if findings else 0


def _cmd_mapping_preview(args: argparse.Namespace) -> int:
    from rich.console import Console

    from booktransfer.errors import KeyringError
    from booktransfer.mapping.loader import load_mapping_set
    from booktransfer.mapping.preview import preview_entity, render
    from booktransfer.protect.keyring import load_keyring, new_keyring_document, parse_keyring

    mapping_set = load_mapping_set(args.mapping_set)
    try:
        ring = load_keyring()
    except KeyringError:
        ring = parse_keyring(new_keyring_document())
        print("no keyring found: previewing with throwaway keys (tokens differ from a real run)", file=sys.stderr)
    console = Console(width=args.width)
    for entity in [args.entity] if args.entity else list(mapping_set.entities):
        table, rejects = preview_entity(mapping_set, entity, Path(args.source), args.rows, ring)
        console.print(render(table, f"{entity} (first {args.rows} source rows, as the buyer receives them)"))
        for row in rejects.to_pylist():
            console.print(f"  quarantined: {row['source_file']}:{row['source_line']} {row['column']} {row['reason']}")
    return 0


def _cmd_settings_render(args: argparse.Namespace) -> int:
    from booktransfer.operations.form import read_settings_file

    conf = read_settings_file(Path(args.file))
    if args.check:
        from datetime import datetime

        from booktransfer.compliance.gate import check_settings, run_day
        from booktransfer.load.settings import SELLER_TIMEZONE

        result = check_settings(conf, run_day(datetime.now(SELLER_TIMEZONE)))
        for f in result.findings:
            print(f"{args.file}: {f.code} [{f.requirement}]: {f.message}", file=sys.stderr)
        if not result.ok:
            return 1
        print(f"{args.file}: the compliance gate would pass today (impact assessment current until "
              f"{result.pipia_valid_until})", file=sys.stderr)
    print(json.dumps(conf, ensure_ascii=False, indent=None if args.compact else 2))
    return 0


def _cmd_settings_example(args: argparse.Namespace) -> int:
    from booktransfer.operations.form import example_settings_file

    sys.stdout.write(example_settings_file())
    return 0


def _add_settings_commands(sub: Any) -> None:
    """`booktransfer settings render|example`: a settings file that pre-fills a repeatable DAG run."""
    settings = sub.add_parser("settings", help="settings files for the portfolio_transfer DAG").add_subparsers(
        dest="settings_command", required=True)
    render = settings.add_parser("render", help="check a YAML settings file and print the DAG run's conf (JSON)")
    render.add_argument("file", help="YAML: setting names as in the trigger form; missing ones take the defaults")
    render.add_argument("--check", action="store_true",
                        help="also apply the compliance gate's rules as of today; exit 1 if it would stop the run")
    render.add_argument("--compact", action="store_true", help="print the conf on one line")
    render.set_defaults(func=_cmd_settings_render)
    example = settings.add_parser("example", help="print a settings file with every setting at its default")
    example.set_defaults(func=_cmd_settings_example)


def _add_load_settings(run: argparse.ArgumentParser) -> None:
    """The consent, data-subject request and notice settings of `booktransfer run` (as the DAG's params)."""
    from booktransfer.load.settings import DEFAULT_RECIPIENT_CONTACT, DEFAULT_RECIPIENT_NAME

    run.add_argument("--as-of-date", help="YYYY-MM-DD cut-over date (minors, retention holds); default: today")
    run.add_argument("--buyer-purpose", action="append",
                     help="a purpose the buyer declares (repeat; default: SERVICING and the seller's purposes)")
    run.add_argument("--suppression-file", help="CSV of erasure/objection requests (see docs/loading-and-consent.md)")
    run.add_argument("--reconsent-file", help="CSV of consent events recorded for the buyer's new purposes")
    run.add_argument("--recipient-name", default=DEFAULT_RECIPIENT_NAME, help="the buyer, as named in the notice")
    run.add_argument("--recipient-contact", default=DEFAULT_RECIPIENT_CONTACT, help="the buyer's contact")
    run.add_argument("--no-notify-via-policyholder", action="store_true",
                     help="list insured persons and beneficiaries without a contact as NO_CHANNEL")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="booktransfer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sample = sub.add_parser("sample", help="write a synthetic seller book (a legacy core-system export)")
    sample.add_argument("--customers", type=int, required=True)
    sample.add_argument("--seed", type=int, default=1)
    sample.add_argument("--out", required=True, help="the drop folder to write")
    sample.add_argument("--defect-rate", type=float, default=0.0)
    sample.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8")
    sample.add_argument("--truth", help="where to write the defects' ground truth (default: beside --out)")
    sample.set_defaults(func=_cmd_sample)

    keys = sub.add_parser("keys", help="manage the local keyring").add_subparsers(dest="keys_command", required=True)
    init = keys.add_parser("init", help="create a local keyring for tokens and encryption")
    init.add_argument("--path", help="default: $BOOKTRANSFER_KEYRING or var/keys/keyring.json")
    init.add_argument("--force", action="store_true", help="replace an existing keyring (old data won't decrypt)")
    init.add_argument("--if-missing", action="store_true",
                      help="keep an existing keyring (adding the key purposes an older format lacks)")
    init.set_defaults(func=_cmd_keys_init)
    rotate = keys.add_parser("rotate", help="add new encryption, AES-SIV and staging keys and make them active")
    rotate.add_argument("--path", help="default: $BOOKTRANSFER_KEYRING or var/keys/keyring.json")
    rotate.add_argument("--purpose", action="append", choices=["encryption", "deterministic", "staging"],
                        help="rotate only these key purposes (repeatable; default: all three)")
    rotate.add_argument("--stdout", action="store_true",
                        help="print the rotated document (for a secrets backend) instead of rewriting the file; "
                             "reads $BOOKTRANSFER_KEYRING_JSON when set and no --path is given")
    rotate.set_defaults(func=_cmd_keys_rotate)

    decrypt = sub.add_parser("decrypt", help="for the buyer's key holder: decrypt columns of a buyer table "
                                             "(CSV); fails closed on any tampered ciphertext")
    decrypt.add_argument("--target", required=True, help="the buyer database URL")
    decrypt.add_argument("--transfer-id", required=True)
    decrypt.add_argument("--table", required=True, help="a buyer table, e.g. customers")
    decrypt.add_argument("--columns", help="comma-separated columns to decrypt (default: the mapping's encrypted "
                                           "columns of the table)")
    decrypt.add_argument("--with", dest="with_columns",
                         help="comma-separated columns to output as stored (default: the key and source_line)")
    decrypt.add_argument("--mapping-set", default="example_seller", help="a name under mappings/ or a folder")
    decrypt.add_argument("--out", help="a new CSV file (mode 600); default: standard output")
    decrypt.add_argument("--verify", action="store_true",
                         help="decrypt and authenticate everything, check row fingerprints, print counts only")
    decrypt.set_defaults(func=_cmd_decrypt)

    run = sub.add_parser("run", help="run a whole transfer in this process (no Airflow)")
    run.add_argument("--source", required=True, help="the drop folder")
    run.add_argument("--target", required=True, help="a database URL")
    run.add_argument("--transfer-id", required=True)
    run.add_argument("--run-id", default="cli")
    run.add_argument("--mapping-set", default="example_seller")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--max-reject-rate", type=_share, default=0.10,
                     help="per entity, the share of rows (0-1) that may be quarantined for their own defects before "
                          "the run stops after validation (default 0.10; a dry run only reports it)")
    _add_load_settings(run)
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="read reconciliation reports").add_subparsers(dest="report_command",
                                                                                        required=True)
    latest = report.add_parser("latest", help="show the newest report of a transfer")
    latest.add_argument("--transfer-id", required=True)
    latest.set_defaults(func=_cmd_report_latest)
    reload = sub.add_parser("reload", help="reload the rows a reconciliation found wrong, then reconcile again")
    reload.add_argument("--keys", required=True, help="CSV with entity,source_line (e.g. the report's differences.csv)")
    reload.add_argument("--transfer-id", required=True)
    reload.add_argument("--run-id", required=True, help="the run whose staged rows are reloaded")
    reload.add_argument("--target", required=True, help="the buyer database URL")
    reload.add_argument("--mapping-set", default="example_seller")
    reload.set_defaults(func=_cmd_reload)
    verify = report.add_parser("verify", help="check a report folder against its signed MANIFEST")
    verify.add_argument("folder")
    verify.add_argument("--public-key", help="the signer's public key (PEM); default: the local signing key's")
    verify.set_defaults(func=_cmd_report_verify)

    _add_settings_commands(sub)
    mapping = sub.add_parser("mapping", help="write, check and preview mapping sets").add_subparsers(
        dest="mapping_command", required=True)
    schema = mapping.add_parser("schema", help="print the JSON Schema of mapping files (for editors)")
    schema.add_argument("--kind", choices=["entity", "set", "codes"], default="entity")
    schema.set_defaults(func=_cmd_mapping_schema)
    lint = mapping.add_parser("lint", help="check a mapping set; exit 0 clean, 1 findings, 2 unusable input")
    lint.add_argument("mapping_set", help="the folder, e.g. mappings/example_seller")
    lint.add_argument("--source", help="a drop folder: check headers and codes against it")
    lint.add_argument("--target", help="a database URL: check target columns against the real database")
    lint.set_defaults(func=_cmd_mapping_lint)
    preview = mapping.add_parser("preview", help="show mapped, protected rows of a drop in the terminal")
    preview.add_argument("mapping_set")
    preview.add_argument("--source", required=True)
    preview.add_argument("--rows", type=int, default=20)
    preview.add_argument("--entity")
    preview.add_argument("--width", type=int, default=None)
    preview.set_defaults(func=_cmd_mapping_preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `booktransfer` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BookTransferError, ValueError) as e:
        print(f"booktransfer: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
