"""Validation throughput: the customer suite (Great Expectations + booktransfer's custom expectations) on one
core, and the whole validate stage, on a generated sample book.

    .venv/bin/python benchmarks/validate.py [--customers 1000000] [--defect-rate 0.01] [--seed 5]
                                            [--work DIR] [--no-stage] [--out FILE]

Prepares a book (generate, then the real extract and map stages into `--work`, default a temporary folder;
an existing `--work` with a prepared run is reused), then measures in a fresh child process pinned to one
CPU core (os.sched_setaffinity, Arrow limited to one thread), so the numbers are per core and the peak
resident memory (ru_maxrss) is validation's own plus the interpreter, GX and the input table:

- customer suite: `booktransfer.validate.entity.check_entity` on the mapped customers (identifier folding,
  the GX run of expectations/example_buyer/customers.json with the control-file row count, failures to row
  positions), rows/s. Also, for the breakdown: GX's batch fingerprint of the same frame timed alone (an MD5
  over pandas' hash of every cell, which GX computes for every pandas batch under 1 GB unless told not to;
  booktransfer turns it off, `gx_suite._skip_batch_fingerprint`, so the suite's time no longer includes it);
- whole stage (unless --no-stage): `pipeline.run_validate` over all four entities, book-level rules and Data
  Docs, in another child, rows/s over all entities' rows.

Target: 300,000 rows/s per core for the customer suite. Prints a summary and writes JSON (default
benchmarks/results/validate.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
TARGET_ROWS_PER_SECOND = 300_000


def context(work: Path) -> Any:
    """The run context of the benchmark's transfer (keyring inside `work`)."""
    from booktransfer import pipeline

    os.environ["BOOKTRANSFER_KEYRING"] = str(work / "keyring.json")
    return pipeline.RunContext(transfer_id="bench", run_id="validate", mapping_set="example_seller",
                               target_url=f"sqlite:///{work / 'buyer.db'}", staging_root=work / "staging",
                               reports_root=work / "reports", max_reject_rate=1.0)


def prepare(work: Path, customers: int, seed: int, rate: float) -> dict[str, Any]:
    """Generate the book and run extract and map (skipped when `work` already holds them)."""
    from booktransfer import pipeline
    from booktransfer.extract.sources import LocalFolderSource
    from booktransfer.protect.keyring import write_keyring
    from booktransfer.sample.generator import generate_book

    marker = work / "prepared.json"
    if marker.exists():
        return json.loads(marker.read_text())
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "keyring.json").exists():
        write_keyring(work / "keyring.json")
    started = time.perf_counter()
    generate_book(work / "drop", customers=customers, seed=seed, defect_rate=rate)
    generated = time.perf_counter() - started
    ctx = context(work)
    started = time.perf_counter()
    rows = pipeline.run_extract(ctx, LocalFolderSource(work / "drop"))["rows"]
    pipeline.run_map(ctx)
    info = {"customers": customers, "seed": seed, "defect_rate": rate, "rows": rows,
            "generate_seconds": round(generated, 1), "extract_map_seconds": round(time.perf_counter() - started, 1)}
    marker.write_text(json.dumps(info))
    return info


def _one_core() -> None:
    """Pin this process to one CPU and Arrow to one thread: the figures are per core."""
    import pyarrow as pa

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_suite(work: Path) -> dict[str, Any]:
    """(child) The customer suite on the mapped customers, and GX's fingerprint of the same frame."""
    _one_core()
    from great_expectations.execution_engine.pandas_execution_engine import hash_pandas_dataframe

    from booktransfer.validate.entity import canonical_forms, canonicalize, check_entity
    from booktransfer.validate.gx_suite import load_suite_dict, suite_columns, to_validation_frame

    ctx = context(work)
    mapping = ctx.load_mapping()
    table = ctx.read_staged(ctx.stage_path("mapped", "customers")).combine_chunks()
    doc = load_suite_dict(ctx.suite_path(mapping, "customers"))
    check_entity(mapping.entities["customers"], table.slice(0, 1000), doc)  # imports and registrations
    rss_before = _peak_mib()
    started, cpu = time.perf_counter(), time.process_time()
    checked = check_entity(mapping.entities["customers"], table, doc, expected_rows=table.num_rows)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    frame = to_validation_frame(canonicalize(table, canonical_forms(doc)), suite_columns(doc))
    started = time.perf_counter()
    hash_pandas_dataframe(frame)
    fingerprint = time.perf_counter() - started
    peak = _peak_mib()
    return {
        "rows": table.num_rows, "expectations": checked.summary["evaluated"], "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2), "rows_per_second": round(table.num_rows / seconds),
        "rows_per_cpu_second": round(table.num_rows / cpu_seconds),
        "gx_fingerprint_seconds": round(fingerprint, 2),
        "rows_failed": int(checked.failed.sum()), "peak_rss_mib": round(peak),
        "peak_rss_before_suite_mib": round(rss_before),
    }


def measure_stage(work: Path) -> dict[str, Any]:
    """(child) The whole validate stage: every entity, the book rules, the files and Data Docs."""
    _one_core()
    from booktransfer import pipeline

    ctx = context(work)
    rows = sum(json.loads((work / "prepared.json").read_text())["rows"].values())
    started, cpu = time.perf_counter(), time.process_time()
    result = pipeline.run_validate(ctx)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {"rows": rows, "seconds": round(seconds, 1), "rows_per_second": round(rows / seconds),
            "cpu_seconds": round(cpu_seconds, 1), "rows_per_cpu_second": round(rows / cpu_seconds),
            "peak_rss_mib": round(_peak_mib()), "result_rows": result["rows"]}


def child(kind: str, work: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (its own peak memory) and return its JSON."""
    done = subprocess.run([sys.executable, __file__, "--measure", kind, "--work", str(work)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions() -> dict[str, str]:
    import great_expectations
    import pandas
    import pyarrow

    return {"python": platform.python_version(), "great_expectations": great_expectations.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--defect-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", help="folder for the book and the staged run (reused when prepared)")
    parser.add_argument("--no-stage", action="store_true", help="skip the whole-stage measurement")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "validate.json"))
    parser.add_argument("--measure", choices=["suite", "stage"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        result = (measure_suite if args.measure == "suite" else measure_stage)(Path(args.work))
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory(prefix="bt-bench-validate-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        book = prepare(work, args.customers, args.seed, args.defect_rate)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # other work on the machine skews wall time
        suite = child("suite", work)
        stage = None if args.no_stage else child("stage", work)
    doc = {"benchmark": "validate", "book": book, "customer_suite": suite, "whole_stage": stage,
           "target_rows_per_second": TARGET_ROWS_PER_SECOND,
           "meets_target": suite["rows_per_second"] >= TARGET_ROWS_PER_SECOND,
           "load_average_at_start": load,
           "cores": 1, "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
           "versions": versions()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"customer suite: {suite['rows']:,} rows, {suite['expectations']} expectations, {suite['seconds']} s "
          f"-> {suite['rows_per_second']:,} rows/s on 1 core, {suite['rows_per_cpu_second']:,} rows per CPU second "
          f"(target {TARGET_ROWS_PER_SECOND:,}); "
          f"GX's batch fingerprint (turned off) would add {suite['gx_fingerprint_seconds']} s; "
          f"peak RSS {suite['peak_rss_mib']} MiB")
    if stage:
        print(f"whole validate stage: {stage['rows']:,} rows (4 entities) in {stage['seconds']} s -> "
              f"{stage['rows_per_second']:,} rows/s on 1 core, {stage['rows_per_cpu_second']:,} rows per CPU second; "
              f"peak RSS {stage['peak_rss_mib']} MiB")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
