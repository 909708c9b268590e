"""Load throughput into PostgreSQL: the loader's COPY path against a plain COPY of the same rows, same run.

    .venv/bin/python benchmarks/load.py [--customers 1000000] [--book DIR] [--repeat 3] [--pg URL]
                                        [--stage] [--out FILE]

Generates (or reuses, with --book) a clean sample seller book, maps and protects its customers with the
example mapping (tokens, ciphertexts, row fingerprints: the rows the load stage receives), then, in fresh
PostgreSQL schemas created from the buyer DDL, alternately times:

- ours: `booktransfer.load.loader.load_table` with the COPY writer — canonical encoding, sort by key, SHA-256
  digest, the transfer's previous rows deleted, COPY, the `transfer_runs` record, commit, all in one
  transaction (what every table of a real load goes through);
- plain: `COPY customers FROM STDIN (FORMAT csv)` of the same rows, already encoded in memory before the clock
  starts, in one transaction, commit (the floor: the server's own ingest speed).

Ratio = ours / plain in rows per second (target: at least 0.5). With --stage it also runs extract, map,
validate and protect on the whole book and times the whole load stage (load plan with consent decisions,
notices and every table) into PostgreSQL. Prints a table and writes JSON (default
benchmarks/results/load.json). Best and median of --repeat runs; peak memory of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from pgschema import Schema  # noqa: E402 - beside this script

TARGET_RATIO = 0.5
AS_OF = date(2025, 12, 31)
DEFAULT_PG = os.environ.get("BOOKTRANSFER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def protected_customers(customers: int, book: Path | None, work: Path, ring: Any) -> tuple[Path, Any]:
    """The book's customers as the load stage receives them (mapped, then protected and fingerprinted)."""
    from booktransfer.extract.reader import read_text_table
    from booktransfer.mapping.apply import map_entity
    from booktransfer.mapping.loader import load_mapping_set
    from booktransfer.protect.entity import protect_rows
    from booktransfer.sample.generator import generate_book

    if book is None:
        book = work / "drop"
        started = time.perf_counter()
        generate_book(book, customers=customers, seed=7)
        log(f"generated a {customers:,}-customer book in {time.perf_counter() - started:.0f} s")
    mapping_set = load_mapping_set(ROOT / "mappings" / "example_seller")
    spec = mapping_set.entities["customers"]
    started = time.perf_counter()
    mapped = map_entity(mapping_set, "customers", read_text_table(book / "LDPERSON.csv", mapping_set.spec.drop)).table
    table = protect_rows(spec, mapped, ring, "bench", AS_OF).table
    log(f"mapped and protected {table.num_rows:,} customers in {time.perf_counter() - started:.0f} s")
    return book, table


def time_ours(url: str, rows: Any) -> float:
    """The loader's whole per-table path (see the module docstring), seconds."""
    from booktransfer.load.loader import RunInfo, TableLoad, load_table
    from booktransfer.load.target import engine_for
    from booktransfer.load.writers import CopyWriter

    engine = engine_for(url)
    try:
        run = RunInfo("bench", "r-1", "example_seller", "bench", "bench")
        started = time.perf_counter()
        rec = load_table(engine, CopyWriter(), run, TableLoad("customers", rows, ("customer_no",)))
        elapsed = time.perf_counter() - started
    finally:
        engine.dispose()
    assert rec.rows_written == rows.num_rows, rec
    return elapsed


def time_plain(url: str, columns: list[str], chunks: list[Any], n: int) -> float:
    """A bare COPY of pre-encoded CSV into an identical empty table, one transaction, seconds."""
    import psycopg
    from psycopg import sql

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        statement = sql.SQL("COPY customers ({}) FROM STDIN (FORMAT csv)").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for chunk in chunks:
                copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - started
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == n
    return elapsed


def writer_comparison(rows: Any, pg: str, repeat: int) -> dict[str, Any]:
    """Ours against plain COPY, alternating, each run in a fresh schema."""
    from booktransfer.load.encode import csv_chunks, outgoing

    out = outgoing(rows, "bench", ("customer_no",))
    chunks = [memoryview(c) for _, c in csv_chunks(out)]
    size = sum(len(c) for c in chunks)
    ours, plain = [], []
    for i in range(repeat):
        for kind in (("plain", "ours") if i % 2 else ("ours", "plain")):
            with Schema(pg, "load") as url:
                if kind == "ours":
                    ours.append(time_ours(url, rows))
                else:
                    plain.append(time_plain(url, out.column_names, chunks, out.num_rows))
            log(f"  run {i + 1}: {kind} {(ours if kind == 'ours' else plain)[-1]:.2f} s")
    n = rows.num_rows

    def rate(times: list[float], pick: Callable[[list[float]], float]) -> float:
        return n / pick(times)

    return {
        "rows": n, "csv_bytes": size,
        "ours_seconds": ours, "plain_copy_seconds": plain,
        "ours_rows_per_s_best": rate(ours, min), "plain_rows_per_s_best": rate(plain, min),
        "ours_rows_per_s_median": rate(ours, statistics.median),
        "plain_rows_per_s_median": rate(plain, statistics.median),
        "ratio_best": min(plain) / min(ours), "ratio_median": statistics.median(plain) / statistics.median(ours),
    }


def whole_stage(book: Path, pg: str, work: Path, ring: Any) -> dict[str, Any]:
    """Extract, map, validate and protect the whole book, then time the load stage into PostgreSQL."""
    from booktransfer import pipeline
    from booktransfer.extract.sources import LocalFolderSource

    with Schema(pg, "load") as url:
        ctx = pipeline.RunContext("bench", "stage", "example_seller", url, staging_root=work / "staging",
                                  reports_root=work / "reports", keys=ring, as_of=AS_OF)
        stages = {}
        started = time.perf_counter()
        pipeline.run_extract(ctx, LocalFolderSource(book))
        stages["extract"] = time.perf_counter() - started
        for stage in ("map", "validate", "protect"):
            started = time.perf_counter()
            getattr(pipeline, f"run_{stage}")(ctx)
            stages[stage] = time.perf_counter() - started
            log(f"  {stage}: {stages[stage]:.0f} s")
        started = time.perf_counter()
        result = pipeline.run_load(ctx)
        stages["load"] = time.perf_counter() - started
        from booktransfer.load.stage import read_plan_summary

        plan = read_plan_summary(ctx)
    rows = sum(result["rows"].values())
    consent = (plan or {}).get("summary", {}).get("consent", {})
    return {"stage_seconds": stages, "rows_loaded": result["rows"], "rows_total": rows,
            "load_rows_per_s": rows / stages["load"], "persons_with_consent_status": consent.get("persons")}


def report(doc: dict[str, Any]) -> str:
    """A plain text summary."""
    lines = []
    if "writer" in doc:
        w = doc["writer"]
        lines += [
            f"customers: {w['rows']:,} rows, {w['csv_bytes'] / 2**20:.0f} MiB as CSV",
            f"{'':28}{'best rows/s':>14}{'median rows/s':>16}",
            f"{'ours (loader, COPY path)':28}{w['ours_rows_per_s_best']:>14,.0f}"
            f"{w['ours_rows_per_s_median']:>16,.0f}",
            f"{'plain COPY (floor)':28}{w['plain_rows_per_s_best']:>14,.0f}{w['plain_rows_per_s_median']:>16,.0f}",
            f"ratio ours/plain: best {w['ratio_best']:.2f}, median {w['ratio_median']:.2f} "
            f"(target >= {TARGET_RATIO})",
        ]
    lines.append(f"peak RSS: {doc['peak_rss_mib']:.0f} MiB")
    if "stage" in doc:
        s = doc["stage"]
        lines.append(f"whole load stage: {s['rows_total']:,} rows in {s['stage_seconds']['load']:.0f} s "
                     f"({s['load_rows_per_s']:,.0f} rows/s, consent for {s['persons_with_consent_status']} persons)")
    return "\n".join(lines)


def write(path: Path, doc: dict[str, Any]) -> None:
    """Write the results so far (with the peak memory up to now)."""
    doc["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when the ratio misses the target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--book", type=Path, help="reuse a generated sample book (its drop folder)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (a schema of its own per run)")
    parser.add_argument("--stage", action="store_true", help="also time the whole load stage on the whole book")
    parser.add_argument("--stage-only", action="store_true", help="only the whole load stage (no writer comparison)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args(argv)

    from booktransfer.protect.keyring import load_keyring, write_keyring

    with tempfile.TemporaryDirectory(prefix="bt-bench-load-") as tmp:
        work = Path(tmp)
        os.environ["BOOKTRANSFER_KEYRING"] = str(write_keyring(work / "keyring.json"))
        ring = load_keyring()
        doc: dict[str, Any] = {
            "benchmark": "load", "repeat": args.repeat, "target_ratio": TARGET_RATIO,
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        }
        book = args.book
        if not args.stage_only:
            book, rows = protected_customers(args.customers, args.book, work, ring)
            doc |= {"customers": rows.num_rows, "writer": writer_comparison(rows, args.pg, args.repeat)}
            write(args.out, doc)
        if args.stage or args.stage_only:
            if book is None:
                parser.error("--stage-only needs --book")
            doc["stage"] = whole_stage(book, args.pg, work, ring)
            write(args.out, doc)
    print(report(doc))
    print(f"results: {args.out}")
    return 0 if "writer" not in doc or doc["writer"]["ratio_median"] >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
