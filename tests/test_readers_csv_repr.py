"""CSV with Python-repr dicts: the real OTRF honeybucket export."""

from __future__ import annotations

import csv
import io
import json

import iamforensics as ifx
from iamforensics.readers._tabular import decode_cell
from tests.conftest import shared_path
from tests.readers_helpers import run


def _csv() -> bytes:
    return shared_path("otrf-s3-honeybucket", "raw", "extracted", "AWS_S3_HoneyBucketLogs.csv").read_bytes()


def test_honeybucket_rows_become_partial_records():
    data = _csv()
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    table, rejects = run(data, "csv-repr")
    assert not rejects and table.num_rows == len(rows) == 301
    got = {r["event_id"]: r for r in table.to_pylist()}
    for row in rows:
        r = got[row["Event ID"]]
        assert r["event_name"] == row["Event Name"] and r["source_ip_address"] == row["Source IP"]
        assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == row["Event DateTime"]
        assert r["user_agent"] == (row["Request User Agent"] or None) and r["request_id"] == row["Request ID"]
        assert r["user_type"] == "AWSAccount"
        # repr() dict decoded to a JSON object, not kept as Python text.
        assert json.loads(r["request_parameters"])["bucketName"] == "microsoft-devtest"
        assert r["fidelity"] == "partial"
        assert r["missing_fields"] == [
            "eventVersion",
            "eventSource",
            "awsRegion",
            "recipientAccountId",
            "responseElements",
        ]
        # The raw column is the row as exported, product columns included.
        assert json.loads(r["raw"])["Alert"] == row["Alert"]
    anonymous = [r for r in got.values() if r["account_id"] == "ANONYMOUS_PRINCIPAL"]
    assert len(anonymous) == 284
    assert {r["event_name"] for r in got.values()} == {"HeadBucket", "ListObjects", "PutObject"}


def test_honeybucket_folder_ingests(tmp_path):
    report = ifx.ingest([str(shared_path("otrf-s3-honeybucket", "raw"))], tmp_path / "case", jobs=1)
    c = report.counts
    assert report.identity_holds and c["quarantined"] == 0
    assert (c["read"], c["written"], c["duplicates"]) == (602, 301, 301)


def test_literal_cells_are_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    cell = "{'a': __import__('pathlib').Path(" + repr(str(marker)) + ").touch()}"
    assert decode_cell(cell, literal=True) == cell
    assert not marker.exists()
    assert decode_cell("{'type': 'AWSAccount', 'n': [1, 2]}", literal=True) == {
        "type": "AWSAccount",
        "n": [1, 2],
    }


def test_columns_are_matched_by_name_not_position():
    data = _csv().decode()
    rows = list(csv.reader(io.StringIO(data)))
    order = list(reversed(range(len(rows[0]))))
    out = io.StringIO()
    w = csv.writer(out)
    for row in rows:
        w.writerow([row[i] for i in order])
    a, _ = run(_csv(), "csv-repr")
    b, _ = run(out.getvalue().encode(), "csv-repr")
    cols = [c for c in a.column_names if c not in ("raw",)]
    assert a.select(cols).sort_by("event_id").equals(b.select(cols).sort_by("event_id"))
