"""Protection throughput on the sample book's customers, against a plain hmac/AESGCM/AESSIV loop as the floor.

    .venv/bin/python benchmarks/protect.py [--customers 1000000] [--book DIR] [--repeat 5] [--out FILE]

Generates (or reuses, with --book) a sample seller book, maps its customers with the example mapping, then
times each protection kind the way the protect stage runs it (Arrow column in, Arrow column out) and, in the
same run, the floor: a plain Python loop of the bare primitive over the same values already in a list
(`hmac.new(...).hexdigest()`, `AESGCM.encrypt(os.urandom(12), ...)`, `AESSIV.encrypt(...)`), with no Arrow
conversion and no text encoding of the result. Ratio = ours / floor (target: at most 1.5). Also reports
generalization, row fingerprints, the whole protect stage on the customers table and encrypted versus plain
staging. Prints a table and writes JSON (default benchmarks/results/protect.json). Best of --repeat runs.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
TARGET_RATIO = 1.5
AS_OF = date(2025, 12, 31)


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    """The fastest of `repeat` runs of `fn`, in seconds."""
    return min(_timed(fn) for _ in range(repeat))


def paired(repeat: int, ours: Callable[[], Any], floor: Callable[[], Any]) -> tuple[float, float]:
    """Best times of ours and of the floor, measured alternately (so a busy machine slows both alike)."""
    times = [(_timed(ours), _timed(floor)) for _ in range(repeat)]
    return min(t[0] for t in times), min(t[1] for t in times)


def mapped_customers(customers: int, book: Path | None, work: Path) -> Any:
    """The sample book's customers mapped to the buyer's shape (clear), as the protect stage receives them."""
    from booktransfer.extract.reader import read_text_table
    from booktransfer.mapping.apply import map_entity
    from booktransfer.mapping.loader import load_mapping_set
    from booktransfer.sample.generator import generate_book

    if book is None:
        book = work / "drop"
        started = time.perf_counter()
        generate_book(book, customers=customers, seed=7)
        print(f"generated a {customers:,}-customer book in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    mapping_set = load_mapping_set(ROOT / "mappings" / "example_seller")
    raw = read_text_table(book / "LDPERSON.csv", mapping_set.spec.drop)
    return mapping_set, map_entity(mapping_set, "customers", raw).table


def _field(mapping: Any, target: str) -> Any:
    return next(f for f in mapping.fields if f.target == target)


def crypto_rows(mapped: Any, ring: Any, repeat: int) -> list[dict[str, Any]]:
    """Each crypto protection as the stage runs it, and its floor, on real columns."""
    import pyarrow as pa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

    from booktransfer.protect.ciphers import encrypt_deterministic, encrypt_values, tokens
    from booktransfer.protect.keyring import KeyPurpose

    def texts(column: str) -> list[str | None]:
        return mapped.column(column).cast(pa.string()).to_pylist()

    def present(column: str) -> list[bytes]:
        return [v.encode() for v in texts(column) if v is not None]

    token_key, gcm = ring.token_key, AESGCM(ring.encryption_key(ring.active_kid))
    siv = AESSIV(ring.keyset(KeyPurpose.DETERMINISTIC).active_key)

    def hmac_floor(values: list[bytes], namespace: bytes) -> Callable[[], Any]:
        return lambda: [hmac.new(token_key, namespace + b"\x1f" + v, hashlib.sha256).hexdigest() for v in values]

    def gcm_floor(values: list[bytes], aad: bytes) -> Callable[[], Any]:
        return lambda: [gcm.encrypt(os.urandom(12), v, aad) for v in values]

    def siv_floor(values: list[bytes], aad: bytes) -> Callable[[], Any]:
        return lambda: [siv.encrypt(v, [aad]) for v in values]

    def both(*fns: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: [fn() for fn in fns]

    cases = [
        ("token (HMAC-SHA256)", "id_number",
         lambda: pa.array(tokens(token_key, "cn_id_number", texts("id_number")), pa.string()),
         hmac_floor(present("id_number"), b"cn_id_number")),
        ("encrypt (AES-256-GCM)", "name",
         lambda: pa.array(encrypt_values(ring, "name", texts("name")), pa.string()),
         gcm_floor(present("name"), b"name")),
        ("encrypt (AES-256-GCM)", "address",
         lambda: pa.array(encrypt_values(ring, "address", texts("address")), pa.string()),
         gcm_floor(present("address"), b"address")),
        ("encrypt deterministic (AES-SIV)", "mobile",
         lambda: pa.array(encrypt_deterministic(ring, "mobile", texts("mobile")), pa.string()),
         siv_floor(present("mobile"), b"mobile")),
        ("encrypt+token (GCM + HMAC)", "mobile",
         lambda: (pa.array(encrypt_values(ring, "mobile", texts("mobile")), pa.string()),
                  pa.array(tokens(token_key, "mobile", texts("mobile")), pa.string())),
         both(gcm_floor(present("mobile"), b"mobile"), hmac_floor(present("mobile"), b"mobile"))),
    ]
    rows = []
    for kind, column, ours, floor in cases:
        n = mapped.num_rows - mapped.column(column).null_count
        ours_s, floor_s = paired(repeat, ours, floor)
        rows.append({"kind": kind, "column": column, "values": n, "seconds": round(ours_s, 3),
                     "values_per_s": round(n / ours_s), "floor_seconds": round(floor_s, 3),
                     "floor_values_per_s": round(n / floor_s), "ratio": round(ours_s / floor_s, 2)})
    return rows


def other_rows(mapping_set: Any, mapped: Any, ring: Any, repeat: int) -> list[dict[str, Any]]:
    """Generalization, fingerprints and the whole protect stage on the customers table (no crypto floor)."""
    from booktransfer.mapping.model import Generalization
    from booktransfer.protect.entity import protect_rows
    from booktransfer.protect.fingerprint import fingerprint_table
    from booktransfer.protect.generalize import generalize_column
    from booktransfer.protect.identifier_scan import scan_entity

    spec = mapping_set.entities["customers"]
    lines = mapped.column("_line").to_pylist()
    cases = [
        ("generalize year", "birth_date",
         lambda: generalize_column(mapped.column("birth_date"), Generalization.YEAR, AS_OF, "birth_date")),
        ("generalize age_band", "birth_date",
         lambda: generalize_column(mapped.column("birth_date"), Generalization.AGE_BAND, AS_OF, "birth_date")),
        ("generalize city", "address",
         lambda: generalize_column(mapped.column("address"), Generalization.CITY, AS_OF, "address")),
        ("row fingerprint (HMAC over canonical row)", "(row)",
         lambda: fingerprint_table(ring, "bench", spec, mapped, mapped, lines)),
        ("identifier scan of keep text fields", "(row)", lambda: scan_entity(spec, mapped)),
        ("whole protect stage, customers", "(row)", lambda: protect_rows(spec, mapped, ring, "bench", AS_OF)),
    ]
    rows = []
    for kind, column, fn in cases:
        n = mapped.num_rows if column == "(row)" else mapped.num_rows - mapped.column(column).null_count
        seconds = best_of(repeat, fn)
        rows.append({"kind": kind, "column": column, "values": n, "seconds": round(seconds, 3),
                     "values_per_s": round(n / seconds)})
    return rows


def staging_rows(mapped: Any, ring: Any, repeat: int, work: Path) -> list[dict[str, Any]]:
    """Writing and reading the mapped customers encrypted (Parquet modular encryption) versus plain."""
    import pyarrow.parquet as pq

    from booktransfer.protect.staging import read_staged, write_staged

    enc, plain = work / "enc.parquet", work / "plain.parquet"
    cases = [("staging write", lambda: write_staged(mapped, enc, ring), lambda: pq.write_table(mapped, plain)),
             ("staging read", lambda: read_staged(enc, ring), lambda: pq.read_table(plain))]
    rows = []
    for kind, ours, floor in cases:
        ours_s, floor_s = paired(repeat, ours, floor)
        rows.append({"kind": f"{kind} (encrypted vs plain Parquet)", "column": "(table)", "values": mapped.num_rows,
                     "seconds": round(ours_s, 3), "values_per_s": round(mapped.num_rows / ours_s),
                     "floor_seconds": round(floor_s, 3), "floor_values_per_s": round(mapped.num_rows / floor_s),
                     "ratio": round(ours_s / floor_s, 2), "bytes": enc.stat().st_size})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain text table of the results."""
    print(f"{'kind':<44} {'column':<11} {'values':>10} {'values/s':>12} {'floor values/s':>15} {'ratio':>6}")
    for r in rows:
        floor = f"{r['floor_values_per_s']:>15,}" if "floor_values_per_s" in r else f"{'n/a':>15}"
        ratio = f"{r['ratio']:>6.2f}" if "ratio" in r else f"{'':>6}"
        print(f"{r['kind']:<44} {r['column']:<11} {r['values']:>10,} {r['values_per_s']:>12,} {floor} {ratio}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a crypto protection is slower than 1.5x its floor."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--book", type=Path, help="reuse this sample drop folder instead of generating one")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "protect.json")
    args = parser.parse_args(argv)

    from booktransfer.protect.keyring import new_keyring_document, parse_keyring

    ring = parse_keyring(new_keyring_document())
    with tempfile.TemporaryDirectory(prefix="bt-bench-") as tmp:
        mapping_set, mapped = mapped_customers(args.customers, args.book, Path(tmp))
        rows = crypto_rows(mapped, ring, args.repeat)
        rows += other_rows(mapping_set, mapped, ring, args.repeat)
        rows += staging_rows(mapped, ring, args.repeat, Path(tmp))
    print_table(rows)
    crypto = [r for r in rows if "floor_values_per_s" in r and not r["kind"].startswith("staging")]
    worst = max(r["ratio"] for r in crypto)
    doc = {"benchmark": "protect", "customers": mapped.num_rows, "repeat": args.repeat,
           "target_ratio": TARGET_RATIO, "worst_crypto_ratio": worst, "within_target": worst <= TARGET_RATIO,
           "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"worst crypto ratio {worst:.2f} (target <= {TARGET_RATIO}); wrote {args.out}")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
