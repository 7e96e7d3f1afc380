"""Elastic ECS documents around real Stratus records: event.original, and rebuilt without it."""

from __future__ import annotations

import json

from tests.readers_helpers import assert_same_events, run, stratus_records


def _ecs(rec: dict, *, original: bool) -> dict:
    """An ECS document shaped like Elastic's AWS CloudTrail pipeline output."""
    ui = rec.get("userIdentity") or {}
    sc = ui.get("sessionContext") or {}
    issuer = sc.get("sessionIssuer") or {}
    ct = {
        "event_version": rec.get("eventVersion"),
        "event_type": rec.get("eventType"),
        "event_category": rec.get("eventCategory"),
        "request_id": rec.get("requestID"),
        "recipient_account_id": rec.get("recipientAccountId"),
        "error_code": rec.get("errorCode"),
        "error_message": rec.get("errorMessage"),
        "read_only": rec.get("readOnly"),
        "management_event": rec.get("managementEvent"),
        "user_identity": {
            "type": ui.get("type"),
            "arn": ui.get("arn"),
            "access_key_id": ui.get("accessKeyId"),
            "session_context": {
                "mfa_authenticated": (sc.get("attributes") or {}).get("mfaAuthenticated"),
                "creation_date": (sc.get("attributes") or {}).get("creationDate"),
                **(
                    {
                        "session_issuer": {
                            "type": issuer.get("type"),
                            "principal_id": issuer.get("principalId"),
                            "arn": issuer.get("arn"),
                            "account_id": issuer.get("accountId"),
                        }
                    }
                    if issuer
                    else {}
                ),
            },
        },
        "flattened": {"request_parameters": rec.get("requestParameters")},
    }
    doc = {
        "@timestamp": rec["eventTime"].replace("Z", ".000Z"),
        "ecs": {"version": "8.11.0"},
        "cloud": {"region": rec["awsRegion"], "account": {"id": ui.get("accountId")}},
        "event": {
            "action": rec["eventName"],
            "provider": rec["eventSource"],
            "id": rec["eventID"],
            "kind": "event",
            **({"original": json.dumps(rec)} if original else {}),
        },
        "source": {"address": rec["sourceIPAddress"]},
        "user_agent": {"original": rec.get("userAgent")},
        "user": {"id": ui.get("principalId"), "name": ui.get("userName") or issuer.get("userName")},
        "aws": {"cloudtrail": ct},
    }
    return doc


def test_search_response_and_ndjson_with_event_original():
    recs = stratus_records()
    hits = [
        {"_index": "logs-aws.cloudtrail-default", "_id": str(i), "_source": _ecs(r, original=True)}
        for i, r in enumerate(recs)
    ]
    for data in (
        json.dumps({"took": 3, "hits": {"total": {"value": len(hits)}, "hits": hits}}).encode(),
        "\n".join(json.dumps(h) for h in hits).encode(),
        "\n".join(json.dumps(h["_source"]) for h in hits).encode(),
    ):
        table, rejects = run(data, "elastic")
        assert not rejects
        assert_same_events(table, recs)
        assert set(table.column("fidelity").to_pylist()) == {"full"}


def test_rebuilt_from_ecs_fields_when_original_was_not_kept():
    recs = stratus_records()
    data = "\n".join(json.dumps(_ecs(r, original=False)) for r in recs).encode()
    table, rejects = run(data, "elastic")
    assert not rejects and table.num_rows == len(recs)
    got = {r["event_id"]: r for r in table.to_pylist()}
    for rec in recs:
        r = got[rec["eventID"]]
        ui = rec["userIdentity"]
        assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == rec["eventTime"]
        assert (r["event_name"], r["source_ip_address"], r["user_agent"]) == (
            rec["eventName"],
            rec["sourceIPAddress"],
            rec.get("userAgent"),
        )
        assert (r["user_type"], r["user_arn"], r["access_key_id"], r["principal_id"], r["account_id"]) == (
            ui.get("type"),
            ui.get("arn"),
            ui.get("accessKeyId"),
            ui.get("principalId"),
            ui.get("accountId"),
        )
        assert r["actor"] is not None and r["request_id"] == rec.get("requestID")
        if rec.get("requestParameters") is not None:
            assert json.loads(r["request_parameters"]) == rec["requestParameters"]
        assert r["fidelity"] == "partial"
        # ECS keeps no response elements in this shape: reported, not invented.
        assert "responseElements" in r["missing_fields"]
