"""CloudWatch Logs shapes, built around real Stratus records as CloudWatch would carry them."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime

from iamforensics import readers
from tests.readers_helpers import assert_same_events, run, stratus_records


def _ms(rec: dict) -> int:
    return int(datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%S%z").timestamp() * 1000)


def _envelope(recs: list[dict], kind: str = "DATA_MESSAGE") -> dict:
    return {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": "aws-cloudtrail-logs",
        "logStream": "123456789012_CloudTrail_us-east-1",
        "subscriptionFilters": ["to-firehose"],
        "logEvents": [
            {"id": str(i), "timestamp": _ms(r), "message": json.dumps(r)} for i, r in enumerate(recs)
        ],
    }


def test_firehose_object_concatenated_gzip_envelopes_with_control_message():
    recs = stratus_records()
    control = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination"}
        ],
    }
    members = [control] + [_envelope(recs[i : i + 50]) for i in range(0, len(recs), 50)]
    # Firehose writes each (gzipped) payload as it came: gzip members back to back.
    blob = b"".join(gzip.compress(json.dumps(m, separators=(",", ":")).encode()) for m in members)
    from iamforensics.sources import decompress

    data, comp = decompress("mem", blob)
    assert comp == "gzip"
    table, rejects = run(data, "cloudwatch")
    assert not rejects  # the control message is discarded, not a record
    assert_same_events(table, recs)


def test_lambda_awslogs_payload():
    recs = stratus_records()[:30]
    payload = base64.b64encode(gzip.compress(json.dumps(_envelope(recs)).encode())).decode()
    table, rejects = run(json.dumps({"awslogs": {"data": payload}}).encode(), "cloudwatch")
    assert not rejects
    assert_same_events(table, recs)


def test_filter_log_events_pages_and_time_fallback():
    recs = stratus_records()[:40]
    pages = [
        {
            "events": [
                {
                    "logStreamName": "123456789012_CloudTrail_us-east-1",
                    "timestamp": _ms(r),
                    "message": json.dumps(r),
                    "ingestionTime": _ms(r) + 9000,
                    "eventId": str(i),
                }
                for i, r in enumerate(recs[a : a + 20])
            ],
            "searchedLogStreams": [],
            **({"nextToken": "x"} if a == 0 else {}),
        }
        for a in (0, 20)
    ]
    data = (json.dumps(pages[0], indent=2) + json.dumps(pages[1], indent=2)).encode()
    table, rejects = run(data, "cloudwatch")
    assert not rejects
    assert_same_events(table, recs)
    # A message without eventTime gets the log event's timestamp, marked partial.
    rec = {k: v for k, v in recs[0].items() if k != "eventTime"}
    page = {"events": [{"timestamp": _ms(recs[0]), "message": json.dumps(rec), "ingestionTime": 1}]}
    table, _ = run(json.dumps(page).encode(), "cloudwatch")
    r = table.to_pylist()[0]
    assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == recs[0]["eventTime"]
    assert r["missing_fields"] == ["eventTime"]


def test_export_task_lines_and_a_bad_message():
    recs = stratus_records()[:10]
    lines = [f"{r['eventTime'][:-1]}.000Z {json.dumps(r)}" for r in recs]
    lines.insert(3, "2024-01-01T00:00:00.000Z not json at all")
    assert readers.detect("\n".join(lines).encode()).name == "cloudwatch"
    table, rejects = run("\n".join(lines).encode(), "cloudwatch")
    assert len(rejects) == 1 and rejects[0].source_index == 3
    assert_same_events(table, recs)
