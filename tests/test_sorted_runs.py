"""sorted_runs: the merge reads runs a slice at a time and gets what a whole-table read gives."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iamforensics import sorted_runs, store
from iamforensics.normalize import normalize_records
from iamforensics.sorted_runs import Run, Runs, sort_events, write_run
from iamforensics.store import merge_partition, partition_dir, write_events


def events(ids: list[int], *, seed: int) -> pa.Table:
    rnd = random.Random(seed)
    recs = [
        {
            "eventTime": f"2024-05-01T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}Z",
            "eventID": f"7f9a1c52-0000-4000-8000-{i:012d}",
            "eventSource": "s3.amazonaws.com",
            "eventName": rnd.choice(["GetObject", "PutObject", "ListBuckets"]),
            "requestParameters": {"key": "x" * rnd.randrange(50)},
        }
        for i in ids
    ]
    table, rejects = normalize_records(recs, source=f"s{seed}.json", source_format="cloudtrail")
    assert not rejects
    return table


@pytest.fixture
def small_pieces(monkeypatch):
    # Tiny batches and row groups, so every slice crosses piece boundaries.
    monkeypatch.setattr(sorted_runs, "RUN_BATCH", 7)
    monkeypatch.setattr(store, "ROW_GROUP", 11)


def test_gather_and_column_at_match_a_whole_table(tmp_path: Path, small_pieces) -> None:
    parts = [events(list(range(k * 100, k * 100 + n)), seed=k) for k, n in enumerate([40, 1, 63, 25])]
    files = []
    for k, t in enumerate(parts[:3]):
        files.append(tmp_path / f"p{k}.arrow")
        write_run(files[-1], t)
    files.append(tmp_path / "existing.parquet")
    write_events(sort_events(parts[3]), files[-1])
    assert pq.ParquetFile(files[-1]).num_row_groups == 3  # row groups of 11
    runs = [Run(f) for f in files]
    keys = pa.concat_tables([r.keys(["event_id", "event_time"]) for r in runs])
    whole = pa.concat_tables([sort_events(t) for t in parts])  # each run as written: sorted
    assert keys.column("event_id").to_pylist() == whole.column("event_id").to_pylist()
    both = Runs(runs)
    rng = np.random.default_rng(3)
    for rows in (np.arange(whole.num_rows), rng.permutation(whole.num_rows)[:50], np.array([128, 0, 5, 5])):
        assert both.gather(rows).equals(whole.take(pa.array(rows)))
        assert both.column_at("raw", rows.tolist()).equals(
            whole.column("raw").take(pa.array(rows)).combine_chunks()
        )
    both.close()


def test_merge_of_many_small_runs_is_the_sorted_deduplicated_date(tmp_path: Path, small_pieces) -> None:
    root = tmp_path / "case"
    store.init_case(root)
    staging = tmp_path / "staging"
    staging.mkdir()
    first = [events(list(range(k * 10, k * 10 + 10)), seed=k) for k in range(5)]
    files = [str(staging / f"a{k}.arrow") for k in range(5)]
    for f, t in zip(files, first, strict=True):
        write_run(f, t)
    out = merge_partition(root, "2024-05-01", files)
    assert out == {"staged": 50, "written": 50, "duplicates": 0, "id_conflicts": 0}
    # A second ingest: ids 40-59, half already in the partition (same records: duplicates),
    # merged with the existing file read a row group at a time.
    again = [events(list(range(40, 50)), seed=4), events(list(range(50, 60)), seed=9)]
    files2 = [str(staging / f"b{k}.arrow") for k in range(2)]
    for f, t in zip(files2, again, strict=True):
        write_run(f, t)
    out = merge_partition(root, "2024-05-01", files2)
    assert out == {"staged": 20, "written": 10, "duplicates": 10, "id_conflicts": 0}
    (part,) = sorted(partition_dir(root, "2024-05-01").glob("*.parquet"))
    got = pq.read_table(part)
    expected = sort_events(pa.concat_tables([*first, again[1]]))
    assert got.column("event_id").to_pylist() == expected.column("event_id").to_pylist()
    assert got.select(expected.column_names).equals(expected.cast(got.select(expected.column_names).schema))
    assert pq.ParquetFile(part).metadata.row_group(0).num_rows == 11
