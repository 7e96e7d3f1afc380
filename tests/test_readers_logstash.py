"""Logstash exports: the real OTRF ec2-proxy set (no eventTime, @timestamp instead)."""

from __future__ import annotations

import json

import iamforensics as ifx
from tests.conftest import shared_path
from tests.readers_helpers import run


def _lines() -> list[dict]:
    folder = shared_path("otrf-ec2-proxy-s3-exfil", "raw", "extracted")
    (path,) = folder.glob("*.json")
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_otrf_records_take_their_time_from_timestamp():
    lines = _lines()
    data = "\n".join(json.dumps(x) for x in lines).encode()
    table, rejects = run(data, "logstash")
    assert not rejects and table.num_rows == len(lines) == 103
    rows = {r["event_id"]: r for r in table.to_pylist()}
    for line in lines:
        r = rows[line["eventID"]]
        assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%S.000Z") == line["@timestamp"]
        assert (r["fidelity"], r["missing_fields"]) == ("partial", ["eventTime"])
        # The raw column is the exported line, Logstash's fields included.
        assert json.loads(r["raw"])["@version"] == "1"
    stolen = [r for r in rows.values() if r["user_agent"] and "Darwin" in r["user_agent"]]
    assert {r["event_name"] for r in stolen} == {"ListBuckets", "ListObjects", "GetObject"}
    assert {r["session_name"] for r in stolen} == {"i-0317f6c6b66ae9c40"}


def test_otrf_zip_and_extracted_copy_ingest_once(tmp_path):
    src = shared_path("otrf-ec2-proxy-s3-exfil", "raw")
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    c = report.counts
    assert report.identity_holds and c["quarantined"] == 0
    # The zip member and its extracted copy are the same 103 records.
    assert (c["read"], c["written"], c["duplicates"]) == (206, 103, 103)
    formats = sorted((s["source"].rsplit("/", 1)[-1], s["format"]) for s in report.sources)
    assert [f for _, f in formats].count("logstash") == 2
    assert {n for n, f in formats if f == "not-evidence"} == {"LICENSE", "SDAWS-200914011940.yaml"}


def test_record_with_eventtime_keeps_it():
    line = dict(_lines()[0], eventTime="2020-09-14T00:44:20Z")
    table, rejects = run(json.dumps(line).encode(), "logstash")
    r = table.to_pylist()[0]
    assert not rejects and r["fidelity"] == "full" and r["missing_fields"] is None
    assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == "2020-09-14T00:44:20Z"
