"""lookup-events output: plaso's real JSONL, CLI pages, epoch and local-offset EventTime."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from iamforensics.readers.lookup_events import outer_time
from tests.conftest import shared_path
from tests.readers_helpers import assert_same_events, plaso_events, run


def test_plaso_jsonl_is_the_inner_records():
    data = shared_path("plaso-lookup-events-jsonl", "raw", "aws_cloudtrail.jsonl").read_bytes()
    table, rejects = run(data, "lookup-events")
    assert not rejects and table.num_rows == 6
    inner = [json.loads(e["CloudTrailEvent"]) for e in plaso_events()]
    assert_same_events(table, inner)
    # The raw column keeps AWS's record (the decoded CloudTrailEvent), not the envelope.
    raws = [json.loads(r) for r in table.column("raw").to_pylist()]
    assert all("CloudTrailEvent" not in r and "eventTime" in r for r in raws)
    assert set(table.column("fidelity").to_pylist()) == {"full"}
    # Outer EventTime "2022-02-08 09:23:37+11:00" and inner "2022-02-07T22:23:37Z" agree.
    for ev in plaso_events():
        assert outer_time(ev["EventTime"]) == json.loads(ev["CloudTrailEvent"])["eventTime"]


def test_cli_pages_concatenated_and_pretty_printed():
    events = plaso_events()
    pages = [
        {"Events": events[:4], "NextToken": "abc"},
        {"Events": events[4:]},
    ]
    data = (json.dumps(pages[0], indent=4) + "\n" + json.dumps(pages[1], indent=4)).encode()
    table, rejects = run(data, "lookup-events")
    assert not rejects and table.num_rows == 6
    assert_same_events(table, [json.loads(e["CloudTrailEvent"]) for e in events])


def test_inner_record_without_eventtime_takes_outer_epoch_time():
    ev = plaso_events()[0]
    inner = json.loads(ev["CloudTrailEvent"])
    expected = inner.pop("eventTime")
    epoch = datetime.strptime(expected, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    row = dict(ev, CloudTrailEvent=json.dumps(inner), EventTime=epoch)
    table, rejects = run(json.dumps({"Events": [row]}).encode(), "lookup-events")
    assert not rejects
    r = table.to_pylist()[0]
    assert r["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == expected
    assert r["fidelity"] == "partial" and r["missing_fields"] == ["eventTime"]


def test_event_without_cloudtrailevent_is_rebuilt_partial():
    ev = {k: v for k, v in plaso_events()[1].items() if k != "CloudTrailEvent"}
    table, rejects = run(json.dumps({"Events": [ev]}).encode(), "lookup-events")
    assert not rejects
    r = table.to_pylist()[0]
    assert (r["event_id"], r["event_name"], r["user_name"], r["read_only"]) == (
        ev["EventId"],
        ev["EventName"],
        ev["Username"],
        ev["ReadOnly"] == "true",
    )
    assert r["fidelity"] == "partial"
    assert {"userAgent", "sourceIPAddress", "awsRegion", "userIdentity.arn"} <= set(r["missing_fields"])


def test_broken_cloudtrailevent_is_quarantined_with_reason():
    events = plaso_events()
    bad = dict(events[0], CloudTrailEvent=events[0]["CloudTrailEvent"][:-10])
    table, rejects = run(("\n".join(json.dumps(e) for e in [bad, *events[1:]])).encode(), "lookup-events")
    assert table.num_rows == 5 and len(rejects) == 1
    assert rejects[0].reason.startswith("CloudTrailEvent: invalid JSON")


@given(
    st.datetimes(min_value=datetime(2013, 1, 1), max_value=datetime(2035, 1, 1)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_outer_time_is_utc_whatever_the_offset(naive, minutes):
    naive = naive.replace(microsecond=0)
    local = naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    want = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert outer_time(local.isoformat(sep=" ")) == want
    assert outer_time(local.timestamp()) == want
