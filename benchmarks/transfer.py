"""A whole transfer at scale, partitioned, against its floor and against the script a team would otherwise write.

    .venv/bin/python benchmarks/transfer.py --customers 1000000 [--partitions 4] [--workers 2] [--book DIR]
                                            [--pg URL] [--work DIR] [--out FILE] [--no-peer] [--keep]

1. The book: `booktransfer.sample.generator.generate_book` (N customers, about 1.5 policies, 2 policy parties
   and 3 consent events each, a clean export), or an existing drop with --book. Not timed.
2. The pipeline, through the functions the DAG's tasks call, in the DAG's order, into a fresh PostgreSQL schema:
   extract; map, validate per partition; validate_book; protect per partition; plan_load; plan, load and verify
   per partition; reconcile. Every task runs in a process of its own (as an Airflow task does), at most --workers at a
   time (LocalExecutor parallelism); task processes fork from a server that has the libraries imported, so a
   task's time is its work, not Python's imports. Per step: wall seconds, rows, rows/s, the peak resident memory
   of its largest task process (ru_maxrss).
3. The floor, in the same run, on the same rows: pyarrow's CSV parse of every source file (all columns as text);
   one HMAC-SHA256 per value the mapping tokenizes and one AES-256-GCM encryption per value it encrypts (a plain
   loop over the parsed values); a plain `COPY ... FROM STDIN` of the final rows (every row the pipeline left in
   the target, already encoded in memory before the clock starts) into an empty copy of the buyer schema. Ratio
   = pipeline seconds / floor seconds.
4. The peer baseline: `pandas.read_csv(dtype=str, keep_default_na=False)` + `DataFrame.to_sql(..., chunksize=
   10_000)` of every source file into another fresh schema — no mapping, validation, protection or reconciliation.

Prints a table and writes JSON (default benchmarks/results/transfer-<N>.json). Targets (issue 9, 1,000,000
customers on two cores): end to end < 180 s, pipeline/floor <= 2.0, pipeline faster than the peer, load stage
>= 5x the peer's to_sql rows/s, peak memory < 4 GiB and not growing with N at a fixed partition size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from pgschema import DDL, Schema  # noqa: E402 - beside this script

AS_OF = date(2025, 12, 31)
DEFAULT_PG = os.environ.get("BOOKTRANSFER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# Transparent huge pages for the heaps of every process of the run (task processes, floor and peer alike), as
# README "Large books" recommends for workers: glibc's malloc and Arrow's mimalloc ask for them with madvise. On
# this VM a first touch of a 4 KiB page costs about 10 us (guest memory handed back to the host is faulted in
# again), and every task is a fresh process that touches about a GiB. --no-huge-pages runs without.
HUGE_PAGES = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "MIMALLOC_LARGE_OS_PAGES": "1"}
TARGETS = {"seconds_1m": 180.0, "floor_ratio": 2.0, "load_vs_to_sql": 5.0, "peak_rss_gib": 4.0}
PRELOAD = ["pyarrow", "pyarrow.parquet", "pyarrow.csv", "pyarrow.compute", "pandas", "great_expectations",
           "booktransfer.pipeline", "booktransfer.validate.stage", "booktransfer.load.stage",
           "booktransfer.reconcile.report", "booktransfer.protect.entity", "booktransfer.mapping.apply", "psycopg",
           "sqlalchemy"]
# The DAG's order: (step, stage group, per partition?)
STEPS = [("extract", "extract", False), ("map", "map", True), ("validate", "validate", True),
         ("validate_book", "validate", False), ("protect", "protect", True), ("plan_load", "load", False),
         ("plan_partition", "load", True), ("load", "load", True), ("verify", "reconcile", True),
         ("reconcile", "reconcile", False)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- the pipeline, one process per task


@dataclass(frozen=True)
class RunSpec:
    """What a task process needs to rebuild the run's context (no secrets: the keyring is a file)."""

    target_url: str
    staging: str
    reports: str
    run_id: str
    partitions: int
    profile: tuple[str, ...] = ()

    def context(self, partition: int | None = None) -> Any:
        from booktransfer.pipeline import RunContext

        ctx = RunContext(transfer_id="bench", run_id=self.run_id, mapping_set="example_seller",
                         target_url=self.target_url, home=ROOT, staging_root=Path(self.staging),
                         reports_root=Path(self.reports), as_of=AS_OF, max_reject_rate=1.0,
                         partitions=self.partitions)
        return ctx if partition is None else ctx.for_partition(partition)


def run_task(spec: RunSpec, step: str, partition: int | None, drop: str) -> dict[str, Any]:
    """One task of the DAG in this (fresh) process: the function its Airflow task calls; time and peak memory.

    With the step in `spec.profile` (and the task the step's first), the task runs under cProfile and its
    statistics go to `<work>/profile-<step>.pstats` (read them with `python -m pstats`)."""
    if step in spec.profile and partition in (None, 0):
        import cProfile

        profiler = cProfile.Profile()
        out = profiler.runcall(_run_task, spec, step, partition, drop)
        profiler.dump_stats(Path(spec.staging).parent / f"profile-{step}.pstats")
        return out
    return _run_task(spec, step, partition, drop)


def _run_task(spec: RunSpec, step: str, partition: int | None, drop: str) -> dict[str, Any]:
    from booktransfer import pipeline

    ctx = spec.context(partition)
    started = time.perf_counter()
    if step == "extract":
        from booktransfer.extract.sources import LocalFolderSource

        result = pipeline.run_extract(ctx, LocalFolderSource(Path(drop)))
    elif step == "validate_book":
        result = pipeline.run_validate_book(ctx)
    elif step == "plan_partition":
        result = pipeline.run_plan_load(ctx)
    elif step == "reconcile":  # after the verify tasks, as the DAG's reconcile task
        from dataclasses import replace

        result = pipeline.run_reconcile(replace(ctx, verified=True))
    else:
        result = getattr(pipeline, f"run_{step}")(ctx)
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib(), "result": result}


@dataclass
class StepResult:
    """One step of the run: wall time (first task started to last task done), tasks' own times and memory."""

    step: str
    stage: str
    seconds: float
    task_seconds: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "stage": self.stage, "seconds": round(self.seconds, 2),
                "task_seconds": [round(s, 2) for s in self.task_seconds], "rows": self.rows,
                "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
                "peak_rss_mib": round(self.peak_rss_mib)}


def run_pipeline(spec: RunSpec, drop: Path, workers: int, rows: dict[str, int]) -> list[StepResult]:
    """Every step in the DAG's order, each task in a fresh process, at most `workers` at a time."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    out = []
    source_rows = sum(rows.values())
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        list(pool.map(_warm, range(workers)))  # start the worker processes before the clock
        for step, stage, per_partition in STEPS:
            parts = list(range(spec.partitions)) if per_partition else [None]
            started = time.perf_counter()
            done = list(pool.map(run_task, [spec] * len(parts), [step] * len(parts), parts, [str(drop)] * len(parts)))
            result = StepResult(step, stage, time.perf_counter() - started, [d["seconds"] for d in done],
                                max(d["peak_rss_mib"] for d in done), _step_rows(step, done, source_rows))
            log(f"  {step:<15} {result.seconds:7.1f} s  peak {result.peak_rss_mib:6.0f} MiB  "
                f"tasks {', '.join(f'{s:.1f}' for s in result.task_seconds)}")
            out.append(result)
    return out


def _warm(_: int) -> int:
    return os.getpid()


def _step_rows(step: str, done: list[dict[str, Any]], source_rows: int) -> int:
    """Rows a step handled: the source rows, except the load's steps, which count the rows they write."""
    if step in ("plan_partition", "load"):
        return sum(sum(d["result"]["rows"].values()) for d in done)
    return source_rows


# ---------------------------------------------------------------- the floor


def floor_parse(drop: Path, files: list[str]) -> tuple[float, dict[str, Any]]:
    """pyarrow's CSV parse of every source file, every column as text; seconds and the parsed tables."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    tables, seconds = {}, 0.0
    for name in files:
        started = time.perf_counter()
        header = (drop / name).open(encoding="utf-8").readline().rstrip("\n").split(",")
        tables[name] = pacsv.read_csv(drop / name, convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header}))
        seconds += time.perf_counter() - started
    return seconds, tables


def floor_crypto(tables: dict[str, Any], mapping: Any) -> tuple[float, dict[str, int]]:
    """One HMAC-SHA256 per tokenized value and one AES-256-GCM encryption per encrypted value, plain loops."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from booktransfer.mapping.model import Protection

    key, aead = os.urandom(32), AESGCM(os.urandom(32))
    counts = {"hmac": 0, "aes_gcm": 0}
    seconds = 0.0
    for spec in mapping.entities.values():
        table = tables[spec.source.file]
        for f in spec.fields:
            if f.source is None or f.protection not in (Protection.TOKEN, Protection.ENCRYPT, Protection.ENCRYPT_TOKEN):
                continue
            values = [v for v in table.column(f.source).to_pylist() if v]
            aad = f.target.encode()
            started = time.perf_counter()
            if f.protection in (Protection.TOKEN, Protection.ENCRYPT_TOKEN):
                for v in values:
                    hmac.new(key, v.encode(), hashlib.sha256).digest()
                counts["hmac"] += len(values)
            if f.protection in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN):
                for v in values:
                    aead.encrypt(os.urandom(12), v.encode(), aad)
                counts["aes_gcm"] += len(values)
            seconds += time.perf_counter() - started
    return seconds, counts


def floor_copy(pipeline_url: str, base_url: str, same_rows: str | None = None) -> tuple[float, int, dict[str, Any]]:
    """A plain COPY of every row the pipeline left in the target, pre-encoded in memory, into a fresh schema.
    With `same_rows` (a table name), also pandas `to_sql` of that table's final rows into the same empty
    buyer table: the peer's writer on exactly the rows and the table our load writes (rows/s)."""
    import psycopg

    from booktransfer.load.target import ddl_tables

    tables = [t for t in ddl_tables(DDL) if t not in ("transfer_runs", "transfer_locks")]
    data: dict[str, bytes] = {}
    with psycopg.connect(_conninfo(pipeline_url)) as conn, conn.cursor() as cur:
        for table in tables:
            chunks = []
            with cur.copy(f"COPY (SELECT * FROM {table} WHERE transfer_id = 'bench') TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    chunks.append(bytes(chunk))
            data[table] = b"".join(chunks)
    rows = sum(d.count(b"\n") for d in data.values())  # the sample's values hold no line breaks
    with Schema(base_url, "floor") as url, psycopg.connect(_conninfo(url)) as conn:
        started = time.perf_counter()
        for table in tables:
            with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
                view = memoryview(data[table])
                for i in range(0, len(view), 1 << 20):
                    copy.write(view[i:i + (1 << 20)])
            conn.commit()
        seconds = time.perf_counter() - started
    like_for_like: dict[str, Any] = {}
    if same_rows:
        like_for_like = to_sql_same_rows(data[same_rows], same_rows, base_url)
    return seconds, rows, like_for_like


def to_sql_same_rows(csv_bytes: bytes, table: str, base_url: str) -> dict[str, Any]:
    """pandas `to_sql` (chunks of 10,000, the psycopg driver) of one table's final rows into an empty buyer table."""
    import io

    import pandas as pd
    import sqlalchemy as sa

    from booktransfer.load.target import ddl_tables

    declared = [line.strip().split()[:2] for line in ddl_tables(DDL)[table].split("(", 1)[1].splitlines()
                if line.strip() and not line.strip().startswith(("PRIMARY", ")", "--"))]
    columns = [name for name, _ in declared]
    frame = pd.read_csv(io.BytesIO(csv_bytes), header=None, names=columns, dtype=str, keep_default_na=False,
                        na_values=[""])
    for name, kind in declared:  # typed as the buyer table declares them, as a script would have to
        if kind.upper().startswith("DATE"):
            frame[name] = pd.to_datetime(frame[name], format="%Y-%m-%d").dt.date
        elif kind.upper().startswith("INTEGER"):
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
    with Schema(base_url, "tosql") as url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        started = time.perf_counter()
        frame.to_sql(table, engine, if_exists="append", index=False, chunksize=10_000)
        seconds = time.perf_counter() - started
        engine.dispose()
    return {"table": table, "rows": len(frame), "seconds": round(seconds, 2),
            "rows_per_second": round(len(frame) / seconds)}


# ---------------------------------------------------------------- the peer baseline


def peer(drop: str, files: list[str], base_url: str) -> dict[str, Any]:
    """pandas read_csv + to_sql of every source file (in a process of its own), seconds per part."""
    import pandas as pd
    import sqlalchemy as sa

    out: dict[str, Any] = {"read_csv_seconds": 0.0, "to_sql_seconds": 0.0, "rows": 0}
    with Schema(base_url, "peer", ddl=False) as url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        for name in files:
            started = time.perf_counter()
            frame = pd.read_csv(Path(drop) / name, dtype=str, keep_default_na=False)
            middle = time.perf_counter()
            frame.to_sql(name.removesuffix(".csv").lower(), engine, if_exists="replace", index=False,
                         chunksize=10_000)
            out["read_csv_seconds"] += middle - started
            out["to_sql_seconds"] += time.perf_counter() - middle
            out["rows"] += len(frame)
            del frame
        engine.dispose()
    out["seconds"] = out["read_csv_seconds"] + out["to_sql_seconds"]
    out["to_sql_rows_per_second"] = round(out["rows"] / out["to_sql_seconds"])
    out["peak_rss_mib"] = round(peak_rss_mib())
    return out


# ---------------------------------------------------------------- helpers


def checkpoint(base_url: str) -> None:
    """A CHECKPOINT before each timed part, so that none pays for the WAL an earlier one wrote (when allowed)."""
    import psycopg

    try:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as e:
        log(f"no CHECKPOINT before the timed part ({type(e).__name__}); timings may include earlier WAL")


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def book_rows(drop: Path) -> dict[str, int]:
    """Data rows per source file, from the control file."""
    rows = {}
    for line in (drop / "CONTROL.txt").read_text(encoding="ascii").splitlines():
        name, count, _ = line.split("|")
        rows[name] = int(count)
    return rows


def prepare_book(args: argparse.Namespace, work: Path) -> Path:
    from booktransfer.sample.generator import generate_book

    if args.book:
        return Path(args.book)
    drop = work / "drop"
    if not (drop / "CONTROL.txt").exists():
        started = time.perf_counter()
        generate_book(drop, customers=args.customers, seed=args.seed)
        log(f"generated a {args.customers:,}-customer book in {time.perf_counter() - started:.0f} s")
    return drop


def summarize(steps: list[StepResult], floor: dict[str, Any], peer_result: dict[str, Any] | None,
              rows: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    """Stage totals, the ratios and the verdict per target."""
    stages: dict[str, dict[str, Any]] = {}
    for s in steps:
        entry = stages.setdefault(s.stage, {"seconds": 0.0, "peak_rss_mib": 0.0, "rows": s.rows})
        entry["seconds"] += s.seconds
        entry["peak_rss_mib"] = max(entry["peak_rss_mib"], s.peak_rss_mib)
        entry["rows"] = s.rows if s.step == "load" else entry["rows"]
    for entry in stages.values():
        entry["rows_per_second"] = round(entry["rows"] / entry["seconds"]) if entry["seconds"] else None
        entry["seconds"] = round(entry["seconds"], 2)
        entry["peak_rss_mib"] = round(entry["peak_rss_mib"])
    total = sum(s.seconds for s in steps)
    peak = max(s.peak_rss_mib for s in steps)
    out: dict[str, Any] = {
        "customers": args.customers if not args.book else None, "source_rows": rows,
        "partitions": args.partitions, "workers": args.workers,
        "customers_per_partition": round(args.customers / args.partitions) if not args.book else None,
        "pipeline_seconds": round(total, 2), "pipeline_peak_rss_mib": round(peak),
        "stages": stages, "steps": [s.as_dict() for s in steps], "floor": floor,
        "ratio_to_floor": round(total / floor["seconds"], 3),
    }
    checks = {"end_to_end_under_180_s": total < TARGETS["seconds_1m"],
              "ratio_to_floor_at_most_2": out["ratio_to_floor"] <= TARGETS["floor_ratio"],
              "peak_rss_under_4_gib": peak < TARGETS["peak_rss_gib"] * 1024}
    if peer_result is not None:
        load = stages["load"]
        out["peer"] = peer_result
        out["pipeline_vs_peer"] = round(total / peer_result["seconds"], 3)
        out["load_vs_to_sql"] = round(load["rows_per_second"] / peer_result["to_sql_rows_per_second"], 2)
        # Also: the load step alone (the writing, without the consent decisions and notices the plan steps make),
        # and the whole load stage against to_sql writing the same final rows into the same buyer table.
        write = next(s for s in steps if s.step == "load")
        out["load_step_vs_to_sql"] = round(write.rows / write.seconds / peer_result["to_sql_rows_per_second"], 2)
        same = peer_result.get("to_sql_same_rows") or {}
        if same:
            out["load_vs_to_sql_same_rows"] = round(load["rows_per_second"] / same["rows_per_second"], 2)
        checks |= {"faster_than_peer": total < peer_result["seconds"],
                   "load_at_least_5x_to_sql": out["load_vs_to_sql"] >= TARGETS["load_vs_to_sql"]}
    out["targets"] = checks
    return out


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['customers'] or '?':,} customers, {sum(result['source_rows'].values()):,} source rows, "
          f"{result['partitions']} partition(s), {result['workers']} worker(s)")
    print(f"{'step':<16}{'seconds':>9}{'rows/s':>12}{'peak MiB':>10}")
    for s in result["steps"]:
        print(f"{s['step']:<16}{s['seconds']:>9.1f}{s['rows_per_second'] or 0:>12,}{s['peak_rss_mib']:>10,}")
    print(f"{'pipeline':<16}{result['pipeline_seconds']:>9.1f}{'':>12}{result['pipeline_peak_rss_mib']:>10,}")
    f = result["floor"]
    print(f"floor: parse {f['parse_seconds']:.1f} s + crypto {f['crypto_seconds']:.1f} s ({f['crypto_calls']}) + "
          f"COPY {f['copy_seconds']:.1f} s ({f['copy_rows']:,} rows) = {f['seconds']:.1f} s; "
          f"pipeline/floor {result['ratio_to_floor']}")
    if "peer" in result:
        p = result["peer"]
        print(f"peer: read_csv {p['read_csv_seconds']:.1f} s + to_sql {p['to_sql_seconds']:.1f} s "
              f"({p['to_sql_rows_per_second']:,} rows/s) = {p['seconds']:.1f} s, peak {p['peak_rss_mib']:,} MiB; "
              f"pipeline/peer {result['pipeline_vs_peer']}, load stage / to_sql rows/s {result['load_vs_to_sql']} "
              f"(load step alone {result['load_step_vs_to_sql']})")
        same = p.get("to_sql_same_rows") or {}
        if same:
            print(f"to_sql of the final {same['table']} rows into the buyer table: {same['rows_per_second']:,} rows/s; "
                  f"load stage / that {result['load_vs_to_sql_same_rows']}")
    print("targets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in result["targets"].items()))


def huge_pages_environment(env: dict[str, str] | os._Environ) -> dict[str, str]:
    """`HUGE_PAGES` added to an environment's settings (other glibc tunables kept)."""
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and not t.startswith("glibc.malloc.hugetlb=")]
    return {**HUGE_PAGES, "GLIBC_TUNABLES": ":".join([*tunables, HUGE_PAGES["GLIBC_TUNABLES"]])}


def huge_pages_on() -> bool:
    """Whether this process started with `HUGE_PAGES`."""
    return "glibc.malloc.hugetlb=1" in os.environ.get("GLIBC_TUNABLES", "").split(":") and \
        os.environ.get("MIMALLOC_LARGE_OS_PAGES") == "1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--book", help="an existing drop folder (its customers count is not known then)")
    parser.add_argument("--work", help="working folder (default: a temporary one); a generated book is reused")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--out")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the schemas and the staging folder")
    parser.add_argument("--profile", default="", help="steps to run under cProfile, comma-separated "
                        "(the first task of each; statistics in <work>/profile-<step>.pstats)")
    parser.add_argument("--no-floor", action="store_true", help="the pipeline only (no floor, no peer)")
    parser.add_argument("--no-huge-pages", action="store_true", help="run without asking for transparent huge "
                        "pages (HUGE_PAGES)")
    args = parser.parse_args(argv)
    if not args.no_huge_pages and argv is None and not huge_pages_on():
        os.environ.update(huge_pages_environment(os.environ))  # read at process start: start again with them
        os.execv(sys.executable, [sys.executable, *sys.argv])
    Schema.keep = args.keep
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bt-transfer-"))
    work.mkdir(parents=True, exist_ok=True)
    from booktransfer.mapping.loader import load_mapping_set
    from booktransfer.protect.keyring import write_keyring

    drop = prepare_book(args, work)
    rows = book_rows(drop)
    keyring = work / "keyring.json"
    if not keyring.exists():
        write_keyring(keyring)
    os.environ["BOOKTRANSFER_KEYRING"] = str(keyring)
    os.environ.pop("BOOKTRANSFER_KEYRING_JSON", None)
    run_id = f"run-{uuid.uuid4().hex[:6]}"
    with Schema(args.pg, "pipeline") as url:
        spec = RunSpec(url, str(work / "staging"), str(work / "reports"), run_id, args.partitions,
                       tuple(s for s in args.profile.split(",") if s))
        log(f"pipeline: {sum(rows.values()):,} source rows, {args.partitions} partition(s), {args.workers} worker(s)")
        checkpoint(args.pg)
        steps = run_pipeline(spec, drop, args.workers, rows)
        verdict = json.loads((spec.context().report_dir / "reconciliation.json").read_text(encoding="utf-8"))
        log(f"report: {verdict['verdict']}")
        if args.no_floor:
            log(f"pipeline {sum(s.seconds for s in steps):.1f} s, peak {max(s.peak_rss_mib for s in steps):.0f} MiB")
            return 0 if verdict["verdict"] == "PASS" else 1
        parse_s, parsed = floor_parse(drop, list(rows))
        crypto_s, calls = floor_crypto(parsed, load_mapping_set(ROOT / "mappings" / "example_seller"))
        del parsed
        checkpoint(args.pg)
        copy_s, copy_rows, same_rows = floor_copy(url, args.pg, None if args.no_peer else "customers")
    floor = {"parse_seconds": round(parse_s, 2), "crypto_seconds": round(crypto_s, 2), "crypto_calls": calls,
             "copy_seconds": round(copy_s, 2), "copy_rows": copy_rows,
             "seconds": round(parse_s + crypto_s + copy_s, 2)}
    log(f"floor: {floor}")
    peer_result = None
    if not args.no_peer:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            checkpoint(args.pg)
            peer_result = pool.submit(peer, str(drop), list(rows), args.pg).result()
        peer_result["to_sql_same_rows"] = same_rows
        log(f"peer: {peer_result}")
    result = summarize(steps, floor, peer_result, rows, args)
    result |= {"verdict": verdict["verdict"], "huge_pages": huge_pages_on(),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()}}
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"transfer-{args.customers}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print(f"\nresults: {out}")
    if not args.keep and not args.work:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if verdict["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
