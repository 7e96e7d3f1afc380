"""CloudTrail Lake results around real Stratus records: QueryResultRows pages and saved CSV."""

from __future__ import annotations

import csv
import io
import json

from iamforensics import readers
from iamforensics.readers._tabular import parse_kv
from tests.readers_helpers import assert_same_events, run, stratus_records


def _lake_time(t: str) -> str:
    return t.replace("T", " ").replace("Z", ".000")


def _kv(obj: object) -> str:
    """Lake's rendering of a struct/map column: {k=v, ...}, keys lower-cased for structs."""
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k.lower()}={_kv(v)}" for k, v in obj.items()) + "}"
    if obj is None:
        return "null"
    return str(obj)


def _row(rec: dict) -> list[dict[str, str]]:
    ui = rec["userIdentity"]
    cells = {
        "eventID": rec["eventID"],
        "eventTime": _lake_time(rec["eventTime"]),
        "eventName": rec["eventName"],
        "eventSource": rec["eventSource"],
        "awsRegion": rec["awsRegion"],
        "sourceIPAddress": rec["sourceIPAddress"],
        "arn": ui.get("arn") or "",
        "principalid": ui.get("principalId") or "",
    }
    return [{k: v} for k, v in cells.items()]


def test_eventjson_rows_are_the_records():
    recs = stratus_records()
    pages = [
        {
            "QueryStatus": "FINISHED",
            "QueryStatistics": {"ResultsCount": 100},
            "QueryResultRows": [
                [{"eventJson": json.dumps(r)}, {"eventTime": _lake_time(r["eventTime"])}]
                for r in recs[a : a + 100]
            ],
            "NextToken": "t",
        }
        for a in range(0, len(recs), 100)
    ]
    data = "\n".join(json.dumps(p, indent=2) for p in pages).encode()
    table, rejects = run(data, "lake")
    assert not rejects
    assert_same_events(table, recs)


def test_selected_columns_are_rebuilt_partial():
    recs = stratus_records()
    page = {"QueryStatus": "FINISHED", "QueryResultRows": [_row(r) for r in recs]}
    table, rejects = run(json.dumps(page).encode(), "lake")
    assert not rejects and table.num_rows == len(recs)
    got = {r["event_id"]: r for r in table.to_pylist()}
    for rec in recs:
        r = got[rec["eventID"]]
        assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == rec["eventTime"]
        assert (r["user_arn"], r["principal_id"], r["source_ip_address"]) == (
            rec["userIdentity"].get("arn"),
            rec["userIdentity"].get("principalId"),
            rec["sourceIPAddress"],
        )
        assert r["fidelity"] == "partial"
        assert {"userAgent", "requestParameters", "userIdentity.type", "userIdentity.accountId"} <= set(
            r["missing_fields"]
        )


def test_aggregate_rows_are_not_records():
    page = {
        "QueryResultRows": [
            [{"eventSource": "s3.amazonaws.com"}, {"eventName": "PutObject"}, {"apiCount": "96059"}]
        ]
    }
    table, rejects = run(json.dumps(page).encode(), "lake")
    assert table.num_rows == 0 and len(rejects) == 1 and "without eventTime" in rejects[0].reason


def test_saved_csv_results_with_struct_columns():
    recs = [r for r in stratus_records() if r["userIdentity"].get("type") == "AssumedRole"][:20]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["eventid", "eventtime", "eventname", "eventsource", "useridentity", "requestparameters"])
    for r in recs:
        w.writerow(
            [
                r["eventID"],
                _lake_time(r["eventTime"]),
                r["eventName"],
                r["eventSource"],
                _kv(r["userIdentity"]),
                _kv(r.get("requestParameters")) if r.get("requestParameters") else "",
            ]
        )
    table, rejects = run(out.getvalue().encode(), "lake")
    assert not rejects and table.num_rows == len(recs)
    got = {r["event_id"]: r for r in table.to_pylist()}
    for rec in recs:
        r = got[rec["eventID"]]
        sc = rec["userIdentity"]["sessionContext"]
        # Lake lower-cased the struct keys; they are re-cased to CloudTrail's names.
        assert (r["user_type"], r["user_arn"], r["session_issuer_arn"]) == (
            "AssumedRole",
            rec["userIdentity"]["arn"],
            sc["sessionIssuer"]["arn"],
        )
        assert r["mfa_authenticated"] == (sc["attributes"]["mfaAuthenticated"] == "true")


def test_sign_file_is_listed_not_read():
    sign = {
        "version": "1.0",
        "region": "us-east-1",
        "files": [{"fileHashValue": "ab", "fileName": "result_1.csv.gz"}],
        "hashAlgorithm": "SHA-256",
        "signatureAlgorithm": "SHA256withRSA",
        "queryCompleteTime": "2022-12-13 22:50:00.000",
        "hashSignature": "cd",
        "publicKeyFingerprint": "ef",
    }
    reader = readers.detect(json.dumps(sign).encode())
    assert reader.name == "lake-sign" and not reader.events


def test_parse_kv_nesting_and_lists():
    assert parse_kv("{a=1, b={c=x, d=[p, q]}, e=null}") == {
        "a": "1",
        "b": {"c": "x", "d": ["p", "q"]},
        "e": None,
    }
    assert parse_kv("not a struct") is None
