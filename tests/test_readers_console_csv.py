"""Console Event history CSV: parsed by header name; partial rows, or the whole event column."""

from __future__ import annotations

import csv
import io
import json
import random

from iamforensics.readers._tabular import console_time
from tests.readers_helpers import assert_same_events, plaso_events, run, stratus_records

LABELS = [
    "Event ID",
    "Event time",
    "User name",
    "Event name",
    "Event source",
    "Resource type",
    "Resource name",
    "AWS access key",
    "AWS region",
    "Error code",
    "Source IP address",
    "Read-only",
]


def _row(rec: dict) -> dict[str, str]:
    ui = rec.get("userIdentity") or {}
    res = rec.get("resources") or []
    return {
        "Event ID": rec["eventID"],
        "Event time": rec["eventTime"],
        "User name": ui.get("userName") or "",
        "Event name": rec["eventName"],
        "Event source": rec["eventSource"],
        "Resource type": ", ".join(r.get("type", "") for r in res),
        "Resource name": ", ".join(r.get("ARN", "") for r in res),
        "AWS access key": ui.get("accessKeyId") or "",
        "AWS region": rec["awsRegion"],
        "Error code": rec.get("errorCode") or "",
        "Source IP address": rec["sourceIPAddress"],
        "Read-only": str(rec.get("readOnly", "")).lower(),
    }


def _csv(rows: list[dict[str, str]], labels: list[str]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=labels)
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


def test_event_history_rows_are_partial_and_header_order_does_not_matter():
    recs = stratus_records()
    labels = LABELS[:]
    random.Random(7).shuffle(labels)
    table, rejects = run(_csv([_row(r) for r in recs], labels), "console-csv")
    assert not rejects and table.num_rows == len(recs)
    got = {r["event_id"]: r for r in table.to_pylist()}
    for rec in recs:
        r = got[rec["eventID"]]
        assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == rec["eventTime"]
        assert (r["event_name"], r["event_source"], r["aws_region"]) == (
            rec["eventName"],
            rec["eventSource"],
            rec["awsRegion"],
        )
        assert r["access_key_id"] == rec["userIdentity"].get("accessKeyId")
        assert r["error_code"] == rec.get("errorCode")
        assert r["read_only"] == rec.get("readOnly")
        assert r["fidelity"] == "partial"
        assert {"userAgent", "requestParameters", "userIdentity.arn", "userIdentity.type"} <= set(
            r["missing_fields"]
        )
        assert r["user_arn"] is None  # absent in the evidence, not invented


def test_full_event_column_wins():
    events = plaso_events()
    rows = [
        {"Event name": e["EventName"], "Event time": e["EventTime"], "CloudTrail event": e["CloudTrailEvent"]}
        for e in events
    ]
    table, rejects = run(_csv(rows, ["Event name", "Event time", "CloudTrail event"]), "console-csv")
    assert not rejects
    assert_same_events(table, [json.loads(e["CloudTrailEvent"]) for e in events])
    assert set(table.column("fidelity").to_pylist()) == {"full"}


def test_formula_text_is_kept_as_written():
    rec = stratus_records()[0]
    row = _row(rec) | {"User name": '=HYPERLINK("http://x")'}
    table, _ = run(_csv([row], LABELS), "console-csv")
    assert table.column("user_name")[0].as_py() == row["User name"]


def test_console_local_time_is_converted():
    assert console_time("January 10, 2024, 15:07:19 (UTC+05:30)") == "2024-01-10T09:37:19Z"
    assert console_time("March 3, 2024, 11:00:00 PM (UTC-08:00)") == "2024-03-04T07:00:00Z"
    assert console_time("2024-01-10T15:07:19Z") is None


def test_full_record_wins_over_partial_copy_in_one_run(tmp_path):
    import iamforensics as ifx

    recs = stratus_records()[:40]
    ev = tmp_path / "ev"
    ev.mkdir()
    # "a_" sorts first: the partial copy is met before AWS's records.
    (ev / "a_history.csv").write_bytes(_csv([_row(r) for r in recs], LABELS))
    (ev / "b_trail.json").write_text(json.dumps({"Records": recs}))
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=1)
    assert (report.counts["written"], report.counts["duplicates"]) == (40, 40)
    df = ifx.open_case(tmp_path / "case").events(columns=["event_id", "fidelity", "user_arn"])
    assert set(df["fidelity"]) == {"full"} and df["user_arn"].notna().all()
