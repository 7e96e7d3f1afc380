"""EventBridge envelopes around real Stratus records."""

from __future__ import annotations

import json

from tests.readers_helpers import assert_same_events, run, stratus_records


def _env(rec: dict) -> dict:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + rec["eventSource"].split(".")[0],
        "account": rec.get("recipientAccountId", "123456789012"),
        "time": rec["eventTime"],
        "region": rec["awsRegion"],
        "resources": [],
        "detail": rec,
    }


def test_jsonl_array_and_concatenated_envelopes():
    recs = stratus_records()
    for data in (
        "\n".join(json.dumps(_env(r)) for r in recs).encode(),
        json.dumps([_env(r) for r in recs]).encode(),
        "".join(json.dumps(_env(r)) for r in recs).encode(),  # Firehose: no separator
    ):
        table, rejects = run(data, "eventbridge")
        assert not rejects
        assert_same_events(table, recs)
        assert set(table.column("fidelity").to_pylist()) == {"full"}


def test_detail_without_eventtime_uses_envelope_time():
    rec = stratus_records()[5]
    env = dict(_env(rec), detail={k: v for k, v in rec.items() if k != "eventTime"})
    table, rejects = run(json.dumps(env).encode(), "eventbridge")
    r = table.to_pylist()[0]
    assert not rejects and r["missing_fields"] == ["eventTime"]
    assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == rec["eventTime"]
