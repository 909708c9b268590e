"""The vectorised paths scale work added stay equal to the per-value rules they replace."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from booktransfer.consent.age import needs_guardian
from booktransfer.consent.columnar import guardian_needed, guardian_needed_array
from booktransfer.errors import AuthenticationFailed
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.manifest import manifest_table, role_flags
from booktransfer.load.settings import TransferSettings
from booktransfer.mapping.model import EntityMapping, FieldType
from booktransfer.mapping.transforms import _FULLWIDTH, _fullwidth_ascii, _parse_one_format
from booktransfer.protect import identifier_scan as scan
from booktransfer.protect.ciphers import decrypt_column, decrypt_value, encrypt_deterministic, encrypt_values
from booktransfer.protect.entity import protect_rows
from booktransfer.protect.fingerprint import (
    canonical_column,
    canonical_value,
    fingerprint_buyer_row,
    fingerprint_buyer_table,
)
from booktransfer.validate.book import Lookup, _in
from booktransfer.validate.partitioned import PART_COLUMN, cross_partition_duplicates
from tests.unit.protect.fixed_keys import fixed_ring

THINGS = EntityMapping.model_validate({
    "entity": "things", "source": {"file": "T.csv"}, "key": ["k"],
    "fields": [
        {"target": "k", "source": "K", "classification": "identifier", "protection": "keep"},
        {"target": "v", "source": "V", "classification": "personal", "protection": "encrypt"},
        {"target": "m", "source": "M", "classification": "personal", "protection": "encrypt", "deterministic": True},
        {"target": "d", "source": "D", "type": "date", "format": "%Y%m%d", "classification": "public",
         "protection": "keep"},
        {"target": "t", "source": "T", "type": "timestamp", "format": "%Y%m%d%H%M%S", "classification": "public",
         "protection": "keep"},
        {"target": "amt", "source": "A", "type": "decimal", "classification": "financial", "protection": "keep"},
        {"target": "id_no", "source": "I", "classification": "sensitive", "protection": "token",
         "token_namespace": "cn_id_number"},
        {"target": "note", "source": "N", "classification": "personal", "protection": "encrypt+token"},
    ],
})


def things(n: int) -> pa.Table:
    rng = random.Random(5)
    return pa.table({
        "k": [f"K{i}" for i in range(n)], "v": [rng.choice(["张三", "李四·王", "", None, 'a"b\\c']) for _ in range(n)],
        "m": [rng.choice(["13800138000", None]) for _ in range(n)],
        "d": pa.array([rng.choice([date(2020, 1, 2), None]) for _ in range(n)], pa.date32()),
        "t": pa.array([rng.choice([datetime(2021, 3, 4, 5, 6, 7), None]) for _ in range(n)], pa.timestamp("ms")),
        "amt": pa.array([rng.choice([Decimal("3650.00"), Decimal("0.50"), Decimal("-0.00"), None]) for _ in range(n)],
                        pa.decimal128(18, 2)),
        "id_no": [rng.choice(["11010519491231002X", None]) for _ in range(n)],
        "note": [rng.choice([None, "备注", "x\ny"]) for _ in range(n)],
        LINE_COLUMN: pa.array(range(2, n + 2), pa.int64()),
    })


def test_the_vectorised_buyer_fingerprint_equals_the_per_row_one():
    ring = fixed_ring()
    protected = protect_rows(THINGS, things(200), ring, "t-1", date(2025, 12, 31)).table
    buyer = protected.rename_columns(["source_line" if c == LINE_COLUMN else c for c in protected.column_names])
    rows = buyer.to_pylist()
    assert fingerprint_buyer_table(ring, "t-1", THINGS, buyer) == [fingerprint_buyer_row(ring, "t-1", THINGS, r)
                                                                   for r in rows]
    assert fingerprint_buyer_table(ring, "t-1", THINGS, buyer) == protected.column("row_fingerprint").to_pylist()


def test_the_canonical_rows_verify_compares_are_the_bytes_the_fingerprints_cover():
    """Verify compares the target row's canonical form (decrypted) with the mapped row's (clear staging and
    stored tokens): equal to each other, and the head plus each one hashes to the row's staged fingerprint."""
    from booktransfer.protect.fingerprint import (
        buyer_tails,
        canonical_head,
        fingerprint,
        mapped_tails,
    )

    ring = fixed_ring()
    clear = things(300)
    protected = protect_rows(THINGS, clear, ring, "t-1", date(2025, 12, 31)).table
    buyer = protected.rename_columns(["source_line" if c == LINE_COLUMN else c for c in protected.column_names])
    expected = mapped_tails(THINGS, clear, protected, clear.column(LINE_COLUMN).combine_chunks())
    assert buyer_tails(ring, THINGS, buyer).equals(expected)
    head = canonical_head("t-1", "things")
    assert [fingerprint(ring.audit_key, head + t) for t in expected.cast(pa.binary()).to_pylist()] == \
        protected.column("row_fingerprint").to_pylist()


def test_a_tampered_ciphertext_stops_the_vectorised_fingerprint_naming_column_and_line():
    ring = fixed_ring()
    protected = protect_rows(THINGS, things(20), ring, "t-1", date(2025, 12, 31)).table
    buyer = protected.rename_columns(["source_line" if c == LINE_COLUMN else c for c in protected.column_names])
    values = buyer.column("v").to_pylist()
    i = next(i for i, v in enumerate(values) if v)
    values[i] = values[i][:-4] + ("AAAA" if not values[i].endswith("AAAA") else "BBBB")
    tampered = buyer.set_column(buyer.column_names.index("v"), "v", pa.array(values, pa.string()))
    with pytest.raises(AuthenticationFailed, match=f"things source line {i + 2}: column v"):
        fingerprint_buyer_table(ring, "t-1", THINGS, tampered)


def test_decrypt_column_equals_decrypt_value_and_points_at_the_first_failure():
    ring = fixed_ring()
    gcm = encrypt_values(ring, "c", ["a", None, "张三"])
    siv = encrypt_deterministic(ring, "c", ["b", None])
    clear, failed = decrypt_column(ring, "c", gcm + siv)
    assert failed is None and clear == [decrypt_value(ring, "c", v) if v else None for v in gcm + siv]
    assert decrypt_column(ring, "other", gcm)[1] == 0  # bound to its column
    assert decrypt_column(ring, "c", [gcm[0], "junk", gcm[2]]) == (["a"], 1)


def test_decrypt_column_under_one_key_equals_decrypt_value_and_still_points_at_a_failure():
    """The one-comprehension path (every value under one scheme and key id) gives what decrypt_value gives, for
    either scheme; a tampered value, or one under another head, sends it back to the loop that names the row."""
    ring = fixed_ring()
    names = ["a", None, "张三", "", "x" * 300]
    for column in (encrypt_values(ring, "c", names), encrypt_deterministic(ring, "c", names)):
        assert decrypt_column(ring, "c", column) == (names, None)
        tampered = list(column)
        tampered[2] = tampered[2][:-4] + ("AAAA" if not tampered[2].endswith("AAAA") else "BBBB")
        assert decrypt_column(ring, "c", tampered) == (names[:2], 2)
        assert decrypt_column(ring, "c", [column[0], "v9" + column[2][2:]])[1] == 1
    assert decrypt_column(ring, "c", [None, None]) == ([None, None], None)


def test_whole_second_timestamps_stored_as_milliseconds_canonicalise_in_arrow():
    stamps = pa.array([datetime(2021, 3, 4, 5, 6, 7), None], pa.timestamp("ms"))
    assert canonical_column(stamps, FieldType.TIMESTAMP).to_pylist() == ["2021-03-04T05:06:07", None]
    fraction = pa.array([datetime(2021, 3, 4, 5, 6, 7, 250000)], pa.timestamp("ms"))
    assert canonical_column(fraction, FieldType.TIMESTAMP).to_pylist() == [
        canonical_value(datetime(2021, 3, 4, 5, 6, 7, 250000), FieldType.TIMESTAMP)]


@pytest.mark.parametrize("seed", range(3))
def test_the_identifier_prefilter_drops_no_text_the_scanner_would_flag(seed):
    """Random texts around real identifiers, near misses and codes: every text identifiers_in flags passes the
    Arrow prefilter (so findings are the same as scanning every value)."""
    rng = random.Random(seed)
    pieces = ["11010519491231002X", "110105194912310021", "13800138000", "+86 138-0013-8000", "0086 13800138000",
              "4111111111111111", "6222021234567890123", "91350100M000100Y43", "９１３５０１００Ｍ０００１００Ｙ４３",
              "１３８００１３８０００", "P00000000012", "C000000001", "LOG202001010000123", "x", "-", " ", "8",
              "１１０１０５１９４９１２３１００２ｘ", "abc91350100m000100y43"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) for _ in range(3000)]
    values = pa.array(texts)
    lines = pa.array(range(len(texts)), pa.int64())
    found = scan.scan_column("e", "c", values, lines)
    expected: dict[str, int] = {}
    for text in texts:
        for kind in scan.identifiers_in(text):
            expected[kind] = expected.get(kind, 0) + 1
    assert {f.kind: f.rows for f in found} == expected and expected


def test_fullwidth_folding_translates_only_the_values_that_hold_full_width_forms():
    wide = "".join(_FULLWIDTH)
    values = pa.array([wide, "abc", None, "", "混合１２３　x", "no change"])
    expected = [None if v is None else "".join(_FULLWIDTH.get(c, c) for c in v) for v in values.to_pylist()]
    assert _fullwidth_ascii(values).to_pylist() == expected
    chunked = pa.chunked_array([values.slice(0, 3), values.slice(3)])
    assert _fullwidth_ascii(chunked).to_pylist() == expected


def _round_trip_dates(values: pa.Array, fmt: str) -> list:
    """The plain rule: a value parses when Arrow's strptime of it prints back in `fmt` exactly (seconds since
    1970, as Python's datetime cannot hold year 0)."""
    import pyarrow.compute as pc

    stamps = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    printed = pc.strftime(stamps, format=fmt).to_pylist()
    return [s if p == v else None for s, p, v in zip(stamps.cast(pa.int64()).to_pylist(), printed,
                                                     values.to_pylist(), strict=True)]


@pytest.mark.parametrize("fmt", ["%Y%m%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d%%", "%b %d %Y"])
def test_dates_printed_from_iso_text_parse_as_the_strftime_round_trip_does(fmt):
    rng = random.Random(fmt)
    texts = [None, "", "abc", "20230230", "20240229", "20230229", "00990101", "2023-02-30 10:00:00", "Feb 30 2023"]
    for _ in range(3000):
        y, m, d = rng.choice([rng.randint(1900, 2030), rng.randint(0, 999)]), rng.randint(0, 13), rng.randint(0, 32)
        h, mi, s = rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61)
        texts.append(rng.choice([f"{y:04d}{m:02d}{d:02d}", f"{y:04d}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}",
                                 f"{y}/{m}/{d}", f"{d:02d}.{m:02d}.{y:04d}", f" {y:04d}{m:02d}{d:02d}"]))
    values = pa.array(texts, pa.string())
    got = _parse_one_format(values, fmt, FieldType.DATE).cast(pa.int64()).to_pylist()
    assert got == _round_trip_dates(values, fmt)
    assert sum(v is not None for v in got) >= (0 if fmt in ("%Y%m%d%%", "%b %d %Y") else 10)


def test_guardian_needed_over_arrays_equals_the_per_person_rule():
    as_of = date(2025, 2, 28)
    births = [None, date(2011, 2, 28), date(2011, 3, 1), date(2012, 2, 29), date(2011, 2, 27), as_of,
              date(2030, 1, 1), date(1960, 12, 31), date(2025, 3, 1)]
    births += [date(2000, 1, 1) + timedelta(days=d) for d in range(0, 12000, 37)]
    for when in (as_of, date(2024, 2, 29), date(2025, 3, 1)):
        assert guardian_needed_array(pa.array(births, pa.date32()), when).tolist() == [
            needs_guardian(b, when) for b in births]
    assert guardian_needed(births, as_of).tolist() == [needs_guardian(b, as_of) for b in births]


def test_manifest_channels_and_roles_from_arrays():
    persons = pa.table({"customer_no": ["A", "B", "C", "D", "E", "F"],
                        "mobile": ["m1", None, None, None, None, None],
                        "address": [None, "a2", None, None, None, None],
                        LINE_COLUMN: [2, 3, 4, 5, 6, 7]})
    roles = pa.array(["INSURED,HOLDER", "BENEFICIARY", "BENEFICIARY,INSURED", "INSURED", "HOLDER", None])
    via = pa.array([None, "X", "Y", None, "Z", None])
    guardian = np.array([False, True, False, False, False, True])
    shown, has, not_holder = role_flags(roles)
    rows = manifest_table(persons, shown, not_holder, via, guardian, TransferSettings()).to_pylist()
    assert [(r["roles"], r["channel"], r["via_customer_no"], r["status"], r["addressee"]) for r in rows] == [
        ("HOLDER,INSURED", "SMS", None, "PENDING", "SUBJECT"),
        ("BENEFICIARY", "POST", None, "PENDING", "GUARDIAN"),
        ("INSURED,BENEFICIARY", "VIA_POLICYHOLDER", "Y", "PENDING", "SUBJECT"),
        ("INSURED", "NONE", None, "NO_CHANNEL", "SUBJECT"),  # no policyholder to notify through
        ("HOLDER", "NONE", None, "NO_CHANNEL", "SUBJECT"),  # a holder is never notified through another
        ("NONE", "NONE", None, "NO_CHANNEL", "GUARDIAN")]
    assert [r["source_line"] for r in rows] == [2, 3, 4, 5, 6, 7]
    off = manifest_table(persons, shown, not_holder, via, guardian, TransferSettings(notify_via_policyholder=False))
    assert off.column("channel").to_pylist()[2] == "NONE"
    assert has.tolist() == [True, True, True, True, True, False]
    assert not_holder.tolist() == [False, True, True, True, False, False]


@pytest.mark.parametrize("seed", range(4))
def test_cross_partition_duplicates_are_the_keys_twice_in_the_book_and_once_in_their_partition(seed):
    rng = random.Random(seed)
    n = 400
    a = [rng.choice(["k1", "k2", "k3", None] + [f"u{i}" for i in range(60)]) for _ in range(n)]
    b = [rng.choice(["x", None]) for _ in range(n)]
    part = [rng.randrange(4) for _ in range(n)]
    table = pa.table({"a": a, "b": b, PART_COLUMN: pa.array(part, pa.int32())})
    for columns, compound in ((["a"], False), (["a", "b"], True)):
        got = cross_partition_duplicates(table, {"columns": columns, "compound": compound}).tolist()
        key = [tuple(r) if compound else r[0] for r in zip(a, b, strict=True)] if compound else a
        taking = [any(v is not None for v in k) if compound else k is not None for k in key]
        book = Counter(k for k, t in zip(key, taking, strict=True) if t)
        own = Counter((k, p) for k, p, t in zip(key, part, taking, strict=True) if t)
        expected = [t and book[k] > 1 and own[(k, p)] == 1 for k, p, t in zip(key, part, taking, strict=True)]
        assert got == expected and any(expected)


def test_cross_partition_duplicates_none_to_find():
    part = pa.array([0, 1, 2], pa.int32())
    unique = pa.table({"a": ["k1", "k2", None], PART_COLUMN: part})
    assert not cross_partition_duplicates(unique, {"columns": ["a"], "compound": False}).any()
    empty = pa.table({"a": pa.array([None, None, None], pa.string()), PART_COLUMN: part})
    assert not cross_partition_duplicates(empty, {"columns": ["a"], "compound": False}).any()
    within = pa.table({"a": ["k1", "k1", "k2"], PART_COLUMN: pa.array([1, 1, 2], pa.int32())})  # the suite's own
    assert not cross_partition_duplicates(within, {"columns": ["a"], "compound": False}).any()


def test_a_lookup_answers_as_is_in_over_the_chosen_rows():
    rng = random.Random(5)
    pool = pa.array([rng.choice(["a", "b", "c", "d", None]) for _ in range(200)])
    values = pa.array([rng.choice(["a", "b", "c", "e", None]) for _ in range(300)])
    lookup = Lookup(values, pool)
    for _ in range(20):
        rows = np.array([rng.random() < 0.3 for _ in range(200)])
        assert lookup.among(rows).tolist() == _in(values, pool.filter(pa.array(rows))).tolist()
    assert lookup.among().tolist() == _in(values, pool).tolist()
    assert not Lookup(values, pa.array([], pa.string())).among(np.zeros(0, bool)).any()
