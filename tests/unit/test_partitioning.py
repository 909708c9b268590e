"""Partitioning: the stable hash, the routing of a book's rows, and the per-partition files of a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from booktransfer import partitioning as pt
from booktransfer.mapping.loader import load_mapping_set
from booktransfer.validate.book_rules import load_book_rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example():
    mapping = load_mapping_set(ROOT / "mappings" / "example_seller")
    return mapping, load_book_rules(ROOT / "expectations" / "example_buyer")


def raw(columns: dict[str, list[str]]) -> pa.Table:
    n = len(next(iter(columns.values())))
    return pa.table({**{k: pa.array(v, pa.string()) for k, v in columns.items()},
                     "_line": pa.array(range(2, n + 2), pa.int64())})


def customers(numbers: list[str], id_types: list[str], ids: list[str]) -> pa.Table:
    n = len(numbers)
    return raw({"CustomerNo": numbers, "CustomerType": ["0"] * n, "Name": ["张三"] * n, "Sex": ["0"] * n,
                "Birthday": ["19800101"] * n, "IDType": id_types, "IDNo": ids, "Mobile": ["13900000000"] * n,
                "PostalAddress": ["北京"] * n, "ZipCode": ["100000"] * n, "MakeDate": ["2020-01-01"] * n})


# ---------- the hash


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0xCBF29CE484222325),  # FNV-1a 64 published test vectors
    ("a", 0xAF63DC4C8601EC8C),
    ("foobar", 0x85944171F73967E8),
])
def test_fnv1a64_reference_matches_published_vectors(text, expected):
    assert pt.fnv1a64_reference(text) == expected


def test_vectorised_hash_equals_the_reference_on_mixed_lengths_and_unicode():
    values = ["", "a", "C000000001", "P00000000012", "张䶮", "𪚥x", "x" * 70, None, "C000000001"]
    got = pt.fnv1a64(pa.array(values, pa.string()))
    assert got.tolist() == [pt.fnv1a64_reference(v or "") for v in values]


def test_hash_of_a_sliced_chunked_array_equals_the_whole():
    arr = pa.chunked_array([pa.array(["a", "bb"]), pa.array(["ccc", "dddd", "e"])])
    assert pt.fnv1a64(arr)[1:].tolist() == pt.fnv1a64(pa.array(["bb", "ccc", "dddd", "e"])).tolist()
    sliced = pa.array(["zz", "a", "bb"]).slice(1)
    assert pt.fnv1a64(sliced).tolist() == [pt.fnv1a64_reference("a"), pt.fnv1a64_reference("bb")]


def test_buckets_are_in_range_spread_and_stable():
    keys = pa.array([f"C{i:09d}" for i in range(20_000)])
    parts = pt.buckets(keys, 8)
    assert parts.min() == 0 and parts.max() == 7
    sizes = np.bincount(parts, minlength=8)
    assert sizes.min() > 2_000 and sizes.max() < 3_000  # about 2,500 each
    assert pt.buckets(keys, 8).tolist() == parts.tolist()
    assert pt.buckets(keys, 1).tolist() == [0] * 20_000


@pytest.mark.parametrize("bad", [0, 65, -1, 2.0, "4", True])
def test_partition_count_must_be_an_integer_from_1_to_64(bad):
    with pytest.raises(ValueError, match="1 to 64"):
        pt.check_partitions(bad)


# ---------- routing


def test_duplicates_of_one_person_share_a_partition_whatever_their_customer_numbers(example):
    mapping, rules = example
    # the same resident ID three ways: 18 digits, lower-case x and full-width digits, and its 15-digit form
    ric18, ric15 = "11010519491231002X", "110105491231002"
    numbers = [f"C{i:09d}" for i in range(1, 61)]
    ids = [f"E{i:08d}" for i in range(60)]
    id_types = ["1"] * 60
    wide = "１１０１０５１９４９１２３１００２Ｘ"
    for i, form in zip((3, 17, 29, 41), (ric18, ric18.lower(), wide, ric15), strict=True):
        ids[i], id_types[i] = form, "0"
    ids[5] = ""  # no ID: by its own customer number
    router = pt.Router(mapping, rules, 16)
    parts = router.route("customers", customers(numbers, id_types, ids))
    assert len({parts[3], parts[17], parts[29], parts[41]}) == 1
    assert parts[5] == pt.buckets(pa.array([numbers[5]]), 16)[0]
    assert len(set(parts.tolist())) > 4  # other customers spread out


def test_children_follow_the_row_their_first_reference_names(example):
    mapping, rules = example
    router = pt.Router(mapping, rules, 7)
    numbers = [f"C{i:09d}" for i in range(1, 41)]
    cust_parts = router.route("customers", customers(numbers, ["1"] * 40, [f"E{i:08d}" for i in range(40)]))
    holders = [numbers[i % 40] for i in range(80)] + ["C999999999"]  # the last one is an orphan
    policies = raw({"ContNo": [f"P{i:011d}" for i in range(81)], "AppntNo": [f" {h.lower()} " for h in holders],
                    "RiskCode": ["LA0101"] * 81, "ContState": ["1"] * 81, "CValiDate": ["20200101"] * 81,
                    "EndDate": ["20300101"] * 81, "Prem": ["1.00"] * 81, "Amnt": ["2.00"] * 81})
    pol_parts = router.route("policies", policies)
    assert pol_parts[:80].tolist() == [cust_parts[i % 40] for i in range(80)]  # keys compared as mapped
    assert pol_parts[80] == pt.buckets(pa.array(["C999999999"]), 7)[0]
    parties = raw({"ContNo": ["P00000000005", "P00000000005", "P00000000077"], "CustomerNo": numbers[:3],
                   "RoleType": ["1", "2", "1"], "RelationToAppnt": ["00"] * 3, "BnfGrade": [""] * 3,
                   "BnfLot": [""] * 3})
    assert router.route("policy_parties", parties).tolist() == [pol_parts[5], pol_parts[5], pol_parts[77]]


def test_a_joined_files_rows_travel_with_the_main_row_they_join(example):
    mapping, rules = example
    router = pt.Router(mapping, rules, 5)
    main = pa.table({"k": ["a", "b", "c"]})
    router.main["customers"] = (main, np.array([4, 0, 2], np.int32))
    join = type("J", (), {"alias": "x", "left_on": "k", "right_on": "k2"})()
    spec = mapping.entities["customers"]
    patched = spec.source.model_copy(update={"joins": (join,)})
    mapping.entities["customers"] = spec.model_copy(update={"source": patched})
    try:
        parts = router.route_joined("customers", "x", pa.table({"k2": [" c", "a", "zz"]}))
    finally:
        mapping.entities["customers"] = spec
    assert parts.tolist()[:2] == [2, 4]
    assert parts[2] == pt.buckets(pa.array(["zz"]), 5)[0]


def test_split_keeps_each_partitions_rows_in_source_order():
    table = pa.table({"v": list(range(10))})
    parts = np.array([1, 0, 1, 2, 0, 1, 2, 2, 0, 1], np.int32)
    pieces = pt.split(table, parts, 4)
    assert [p.column("v").to_pylist() for p in pieces] == [[1, 4, 8], [0, 2, 5, 9], [3, 6, 7], []]
    assert pt.partition_sizes(parts, 4) == [3, 4, 3, 0]


def test_routing_writer_writes_one_file_per_partition_and_counts_rows(example, tmp_path):
    mapping, rules = example
    written: dict[str, pa.Table] = {}

    def write(table: pa.Table, path: Path) -> None:
        written[str(path.relative_to(tmp_path))] = table

    writer = pt.RoutingWriter(pt.Router(mapping, rules, 3), write,
                              lambda p, stem: tmp_path / "raw" / pt.part_name(p) / f"{stem}.parquet")
    table = customers([f"C{i:09d}" for i in range(30)], ["1"] * 30, [f"E{i:08d}" for i in range(30)])
    writer(table, tmp_path / "raw" / "customers.parquet")
    assert sorted(written) == [f"raw/part-00{p}/customers.parquet" for p in range(3)]
    assert sum(t.num_rows for t in written.values()) == 30
    assert writer.rows["customers"] == [written[f"raw/part-00{p}/customers.parquet"].num_rows for p in range(3)]


def test_a_key_taken_from_a_joined_file_cannot_route(example):
    mapping, rules = example
    with pytest.raises(Exception, match="partitioning needs"):
        pt.Router(mapping, rules, 2).route("customers", pa.table({"Other": ["x"], "_line": [2]}))
