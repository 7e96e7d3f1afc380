"""Records wrapped as {"event": {...}}: the Panther and AWS-docs extractions in the shared data."""

from __future__ import annotations

import json

from iamforensics.timeparse import parse_time
from tests.conftest import shared_path
from tests.readers_helpers import assert_same_events, run, stratus_records


def _jsonl(*parts: str) -> list[dict]:
    return [json.loads(x) for x in shared_path(*parts).read_text().splitlines() if x.strip()]


def test_panther_rule_tests():
    rows = _jsonl("panther-analysis-cloudtrail-tests", "derived", "rule_test_events.jsonl")
    data = shared_path("panther-analysis-cloudtrail-tests", "derived", "rule_test_events.jsonl").read_bytes()
    table, rejects = run(data, "wrapped")
    assert table.num_rows + len(rejects) == len(rows) == 464
    # Quarantined: exactly the hand-written stubs with no usable time at all.
    untimed = [
        i
        for i, r in enumerate(rows)
        if parse_time(str(r["event"].get("eventTime") or r["event"].get("p_event_time") or "")) is None
    ]
    assert sorted(rj.source_index for rj in rejects) == untimed and len(untimed) == 16
    # Records with only Panther's p_event_time get it, marked partial.
    filled = [r for r in table.to_pylist() if r["missing_fields"] == ["eventTime"]]
    assert len(filled) == 3 and all(r["fidelity"] == "partial" for r in filled)
    # The double-encoded Organizations CreateAccount payloads are stored as objects.
    ca = [r for r in table.to_pylist() if r["event_name"] == "CreateAccount" and r["request_parameters"]]
    assert ca and all(isinstance(json.loads(r["request_parameters"]), dict) for r in ca)
    assert any(
        json.loads(r["response_elements"]).get("createAccountStatus") for r in ca if r["response_elements"]
    )


def test_awsdocs_examples():
    rows = _jsonl("awsdocs-cloudtrail-user-guide-examples", "derived", "doc_example_events.jsonl")
    data = shared_path(
        "awsdocs-cloudtrail-user-guide-examples", "derived", "doc_example_events.jsonl"
    ).read_bytes()
    table, rejects = run(data, "wrapped")
    assert table.num_rows == 23 and len(rejects) == 1
    # The one reject is the documentation fragment {eventVersion, userIdentity}: no time.
    assert rejects[0].reason == "missing eventTime"
    assert set(rows[rejects[0].source_index]["event"]) == {"eventVersion", "userIdentity"}
    insights = [r for r in table.to_pylist() if r["event_type"] == "AwsCloudTrailInsight"]
    assert len(insights) == 3 and all(r["insight_details"] for r in insights)


def test_envelopes_with_detail_and_double_encoded_record():
    recs = stratus_records()[:20]
    lines = [json.dumps({"source": "x", "detail": r}) for r in recs[:10]]
    lines += [json.dumps({"meta": 1, "record": json.dumps(r)}) for r in recs[10:]]
    table, rejects = run("\n".join(lines).encode(), "wrapped")
    assert not rejects
    assert_same_events(table, recs)
