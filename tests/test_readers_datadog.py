"""Datadog-enriched records built from real Stratus records: standard attributes mapped back."""

from __future__ import annotations

import json

from tests.readers_helpers import assert_same_events, run, stratus_records


def _dd(rec: dict) -> dict:
    """What Datadog's CloudTrail pipeline leaves: remapped attributes, originals removed."""
    attrs = {k: v for k, v in rec.items() if k not in ("sourceIPAddress", "userAgent", "requestID")}
    attrs["network"] = {"client": {"ip": rec["sourceIPAddress"], "geoip": {"country": {"iso_code": "FR"}}}}
    attrs["http"] = {"useragent": rec.get("userAgent"), "request_id": rec.get("requestID")}
    attrs["evt"] = {"name": rec["eventName"]}
    attrs["service"] = "cloudtrail"
    ui = dict(attrs["userIdentity"])
    ui["session_name"] = "x"
    attrs["userIdentity"] = ui
    return attrs


def test_archive_lines_and_log_explorer_export():
    recs = stratus_records()
    for data in (
        "\n".join(json.dumps(_dd(r)) for r in recs).encode(),
        json.dumps(
            [
                {"id": str(i), "content": {"timestamp": r["eventTime"], "attributes": _dd(r)}}
                for i, r in enumerate(recs)
            ]
        ).encode(),
        json.dumps(
            {
                "data": [
                    {"id": str(i), "type": "log", "attributes": {"attributes": _dd(r)}}
                    for i, r in enumerate(recs)
                ]
            }
        ).encode(),
    ):
        table, rejects = run(data, "datadog")
        assert not rejects
        assert_same_events(table, recs)
        assert set(table.column("fidelity").to_pylist()) == {"partial"}


def test_what_cannot_be_mapped_back_is_reported():
    rec = stratus_records()[0]
    doc = _dd(rec)
    del doc["http"]["request_id"]
    del doc["eventTime"]
    wrapped = {"content": {"timestamp": rec["eventTime"], "attributes": doc}}
    table, rejects = run(json.dumps([wrapped]).encode(), "datadog")
    r = table.to_pylist()[0]
    assert not rejects
    assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == rec["eventTime"]
    assert set(r["missing_fields"]) == {"requestID", "eventTime"}
    assert r["source_ip_address"] == rec["sourceIPAddress"] and r["user_agent"] == rec["userAgent"]
