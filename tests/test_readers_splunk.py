"""Splunk JSON exports around real Stratus records: _raw, and extracted fields only."""

from __future__ import annotations

import json

from iamforensics.readers.splunk import unflatten
from tests.readers_helpers import assert_same_events, run, stratus_records


def _result(rec: dict) -> dict:
    return {
        "_bkt": "main~1~X",
        "_cd": "1:2",
        "_raw": json.dumps(rec),
        "_time": rec["eventTime"].replace("Z", ".000+00:00"),
        "host": "cloudtrail",
        "index": "aws",
        "source": "s3://bucket/AWSLogs/x.json.gz",
        "sourcetype": "aws:cloudtrail",
        "eventName": rec["eventName"],
    }


def _flat(obj: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_streaming_export_and_results_with_raw():
    recs = stratus_records()
    lines = [json.dumps({"preview": False, "offset": i, "result": _result(r)}) for i, r in enumerate(recs)]
    lines.append(json.dumps({"preview": False, "lastrow": True}))
    for data in (
        "\n".join(lines).encode(),
        json.dumps({"preview": False, "results": [_result(r) for r in recs]}).encode(),
    ):
        table, rejects = run(data, "splunk")
        assert not rejects
        assert_same_events(table, recs)


def test_table_export_without_raw_is_rebuilt():
    recs = stratus_records()[:50]
    rows = []
    for r in recs:
        row = {
            k: v for k, v in _flat(r).items() if not k.startswith(("requestParameters.", "responseElements."))
        }
        del row["eventTime"]
        row["_time"] = r["eventTime"]
        row["sourcetype"] = "aws:cloudtrail"
        rows.append({"preview": False, "result": row})
    table, rejects = run("\n".join(json.dumps(x) for x in rows).encode(), "splunk")
    assert not rejects and table.num_rows == len(recs)
    got = {r["event_id"]: r for r in table.to_pylist()}
    for rec in recs:
        r = got[rec["eventID"]]
        assert (r["user_arn"], r["event_name"], r["source_ip_address"]) == (
            rec["userIdentity"].get("arn"),
            rec["eventName"],
            rec["sourceIPAddress"],
        )
        assert r["fidelity"] == "partial" and "eventTime" in r["missing_fields"]
        assert json.loads(r["raw"])["sourcetype"] == "aws:cloudtrail"  # the result as exported


def test_unflatten_drops_splunk_fields():
    assert unflatten({"a.b": 1, "a.c": 2, "_time": "t", "date_hour": 3, "index": "x"}) == {
        "a": {"b": 1, "c": 2}
    }
