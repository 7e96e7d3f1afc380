"""The cloudtrail reader: every container CloudTrail records arrive in, detected by content."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from iamforensics import readers
from iamforensics.normalize import REDACTED, Item
from iamforensics.readers import cloudtrail
from tests.conftest import shared_path
from tests.readers_helpers import run


def record(n: int, **fields: Any) -> dict[str, Any]:
    base = {
        "eventVersion": "1.09",
        "eventTime": f"2024-05-01T09:00:{n:02d}Z",
        "eventID": f"00000000-0000-4000-8000-{n:012d}",
        "eventSource": "iam.amazonaws.com",
        "eventName": f"Call{n}",
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::012345678901:user/alice"},
    }
    return base | fields


R = [record(i) for i in range(3)]
IDS = [r["eventID"] for r in R]


def ids(data: bytes) -> list[str]:
    table, rejects = run(data, expect="cloudtrail")
    assert not rejects, [r.reason for r in rejects]
    return table.column("event_id").to_pylist()


CONTAINERS = {
    "s3-records": json.dumps({"Records": R}).encode(),
    "s3-records-pretty": json.dumps({"Records": R}, indent=4).encode(),
    "records-not-first-key": json.dumps({"Other": 1, "Records": R}).encode(),
    "bare-array": json.dumps(R).encode(),
    "bare-array-pretty": json.dumps(R, indent=2, sort_keys=True).encode(),
    "json-lines": "\n".join(json.dumps(r) for r in R).encode() + b"\n",
    "json-lines-crlf-no-final-newline": "\r\n".join(json.dumps(r) for r in R).encode(),
    "concatenated-pretty": "\n".join(json.dumps(r, indent=2) for r in R).encode(),
    "concatenated-no-separator": "".join(json.dumps(r) for r in R).encode(),
    "concatenated-envelopes": b"".join(json.dumps({"Records": [r]}).encode() for r in R),
    "bom-records": b"\xef\xbb\xbf" + json.dumps({"Records": R}).encode(),
    "bom-json-lines": b"\xef\xbb\xbf" + "\n".join(json.dumps(r) for r in R).encode(),
    "blank-lines-between": ("\n\n".join(json.dumps(r) for r in R) + "\n\n").encode(),
}


@pytest.mark.parametrize("name", CONTAINERS)
def test_containers(name):
    assert ids(CONTAINERS[name]) == IDS


def test_bare_single_object():
    assert ids(json.dumps(R[1]).encode()) == [IDS[1]]
    assert ids(json.dumps(R[1], indent=2).encode()) == [IDS[1]]


@pytest.mark.parametrize("data", [b"[]", b"[ ]\n", b'{"Records": []}', b'{"Records":[]}\n'])
def test_empty_containers_hold_no_records(data):
    table, rejects = run(data, expect="cloudtrail")
    assert table.num_rows == 0 and rejects == []


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    import iamforensics as ifx

    # Wrong and missing extensions: a gzip named .json, a JSON named .gz, no extension at all.
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.json").write_bytes(gzip.compress(json.dumps({"Records": R[:1]}).encode()))
    (tmp_path / "ev" / "b.gz").write_bytes(json.dumps(R[1:2]).encode())
    (tmp_path / "ev" / "c").write_bytes(gzip.compress(json.dumps(R[2]).encode()))
    (tmp_path / "ev" / "d.json.gz").write_bytes(gzip.compress(json.dumps({"Records": R}).encode()))
    report = ifx.ingest([str(tmp_path / "ev")], tmp_path / "case", jobs=1)
    by_name = {s["source"].rsplit("/", 1)[1]: s for s in report.sources}
    assert {k: (v["format"], v["compression"], v["records"]) for k, v in by_name.items()} == {
        "a.json": ("cloudtrail", "gzip", 1),
        "b.gz": ("cloudtrail", None, 1),
        "c": ("cloudtrail", "gzip", 1),
        "d.json.gz": ("cloudtrail", "gzip", 3),
    }
    assert report.counts["written"] == 3 and report.counts["duplicates"] == 3


def test_sniff_scores():
    assert cloudtrail.sniff(b'{"Records": [') == 80
    assert cloudtrail.sniff(b'\xef\xbb\xbf  [{"eventVersion": "1.08"') == 60
    assert cloudtrail.sniff(b'{"foo": 1}') == 20
    assert cloudtrail.sniff(b"eventName: ConsoleLogin") == 0
    assert readers.detect(b'{"Records": []}').name == "cloudtrail"


@pytest.mark.parametrize(
    "head",
    [
        b'{"Records": [{"kinesis": {"data": "eyJ4IjogMX0="}, "eventID": "shardId-0:1"}]}',  # Lambda event
        b'{"Records": "a string, not an array"}',
        b'{"report": {"Records": [{"eventName": "x"}]}}',  # nested, not the envelope
        b'{"title": "How to read \\"Records\\" from S3", "body": "..."}',
    ],
)
def test_a_records_key_alone_is_not_the_cloudtrail_envelope(head):
    assert cloudtrail.sniff(head) < 80


def test_records_in_an_eventbridge_head_do_not_outrank_the_eventbridge_reader():
    # A big EventBridge event whose head is cut before its end (first_object cannot decode
    # it) and whose CloudTrail detail carries a "Records" key in its parameters: the
    # eventbridge reader scores 80 on its keys, and a mere "Records" used to tie it at 80
    # and win by name.
    detail = record(1, requestParameters={"Records": [{"id": i} for i in range(5)]})
    doc = {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "detail": detail,
    }
    head = json.dumps(doc).encode()[:-40]
    assert b'"Records"' in head
    assert readers.detect(head).name == "eventbridge"
    whole = json.dumps(doc).encode()
    (item,) = list(readers.detect(whole).read(whole, "x"))
    assert isinstance(item, Item) and item.record.eventID == detail["eventID"]


# --- damage stays local -------------------------------------------------------------------


def test_json_lines_bad_line_loses_only_that_line():
    data = (json.dumps(R[0]) + "\n{broken json\n" + json.dumps(R[2]) + "\n").encode()
    table, rejects = run(data, expect="cloudtrail")
    assert table.column("event_id").to_pylist() == [IDS[0], IDS[2]]
    assert [(r.source_index, r.reason.split(":")[0], r.raw) for r in rejects] == [
        (1, "line 2", b"{broken json\n")
    ]


def test_concatenated_pretty_with_a_broken_value_in_the_middle():
    broken = '{\n  "eventTime": not-json,\n  "eventName": "x"\n}'
    data = "\n".join([json.dumps(R[0], indent=2), broken, json.dumps(R[2], indent=2)]).encode()
    table, rejects = run(data, expect="cloudtrail")
    assert table.column("event_id").to_pylist() == [IDS[0], IDS[2]]
    assert len(rejects) == 1 and rejects[0].raw.decode().strip() == broken
    assert rejects[0].reason.startswith(f"line {json.dumps(R[0], indent=2).count(chr(10)) + 2}: invalid JSON")


def test_truncated_json_lines_keep_the_complete_records():
    data = (json.dumps(R[0]) + "\n" + json.dumps(R[1]) + "\n" + json.dumps(R[2])[:50]).encode()
    table, rejects = run(data, expect="cloudtrail")
    assert table.column("event_id").to_pylist() == IDS[:2]
    assert len(rejects) == 1 and rejects[0].reason.startswith("line 3: invalid JSON")


def test_truncated_envelope_is_one_reject():
    data = json.dumps({"Records": R}).encode()[:-40]
    table, rejects = run(data, expect="cloudtrail")
    assert table.num_rows == 0
    assert [r.reason for r in rejects] == ["line 1: invalid JSON: Input data was truncated"]


def test_invalid_utf8_rejects_only_the_record_holding_it():
    bad = json.dumps(record(7, eventName="XX")).encode().replace(b"XX", b"\xc3\x28")
    for data in (
        b"[" + json.dumps(R[0]).encode() + b"," + bad + b"]",
        b'{"Records":[' + json.dumps(R[0]).encode() + b"," + bad + b"]}",
        json.dumps(R[0]).encode() + b"\n" + bad + b"\n",
    ):
        table, rejects = run(data)
        assert table.column("event_id").to_pylist() == [IDS[0]]
        assert len(rejects) == 1 and rejects[0].source_index == 1
        assert rejects[0].reason.startswith("invalid UTF-8 at byte ")
        assert rejects[0].raw == bad


def test_not_cloudtrail_json():
    for data in (b'{"foo": "bar"}', b'[{"a": 1}, {"b": 2}]'):
        table, rejects = run(data, expect="cloudtrail")
        assert table.num_rows == 0 and rejects
        assert all(r.reason.startswith("not a CloudTrail record") for r in rejects)
    table, rejects = run(b"[1, 2]", expect="cloudtrail")
    assert [r.reason for r in rejects] == ["invalid JSON record: a record must be a JSON object, got int"] * 2


def test_records_of_other_json_types_in_an_array():
    data = json.dumps([R[0], [R[1]], 5, None, "x"]).encode()
    table, rejects = run(data, expect="cloudtrail")
    assert table.column("event_id").to_pylist() == [IDS[0]]
    assert [r.source_index for r in rejects] == [1, 2, 3, 4]


def test_source_index_is_the_position_in_the_file():
    data = json.dumps({"Records": [R[0], {"eventName": "x"}, R[2]]}).encode()
    table, rejects = run(data)
    assert table.column("source_index").to_pylist() == [0, 2]
    assert [(r.source_index, r.reason) for r in rejects] == [(1, "missing eventTime")]


def test_read_yields_items_and_rejects_in_file_order():
    out = list(cloudtrail.read(json.dumps(R).encode(), "mem"))
    assert all(isinstance(o, Item) for o in out) and [o.source_index for o in out] == [0, 1, 2]


# --- real evidence ----------------------------------------------------------------------------


def without_token(value: Any) -> Any:
    """The record as the raw column must hold it: sessionToken values redacted, nothing else."""
    if isinstance(value, dict):
        return {
            k: REDACTED if k.lower() == "sessiontoken" and v not in (None, "") else without_token(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_token(v) for v in value]
    return value


def test_stratus_arrays_read_record_for_record():
    folder = shared_path("stratus-red-team-detonation-logs", "raw")
    for f in sorted(folder.glob("aws.*.json"))[:8]:
        data = f.read_bytes()
        expected = json.loads(data)
        table, rejects = run(data, expect="cloudtrail", source=str(f))
        assert not rejects
        assert table.column("event_id").to_pylist() == [r["eventID"] for r in expected]
        assert [json.loads(x) for x in table.column("raw").to_pylist()] == [
            without_token(r) for r in expected
        ]


def test_traildiscover_single_objects_and_empty_arrays():
    folder = shared_path("traildiscover-log-examples", "raw", "docs", "logExamples")
    singles = empties = 0
    for f in sorted(folder.glob("*.json.cloudtrail")):
        data = f.read_bytes()
        value = json.loads(data)
        table, rejects = run(data, expect="cloudtrail")
        assert not rejects, f
        if isinstance(value, dict):
            singles += 1
            # TrailDiscover masks some ids as "xxxxxxxx-...": not a real id, so it gets a content suffix.
            (got,) = table.column("event_id").to_pylist()
            assert got == value["eventID"] or got.startswith(value["eventID"] + "~")
        elif value == []:
            empties += 1
            assert table.num_rows == 0
    # SOURCE.md: 20 bare single objects and 21 empty arrays.
    assert (singles, empties) == (20, 21)


@pytest.mark.parametrize("spelling", ["sessionToken", "SessionToken"])
def test_delivery_file_tokens_never_reach_any_column(spelling):
    """S3 delivery files take the one-decode path: every column of a token record is redacted.

    The first record holds its tokens as keys (redacted in place, the decoded struct kept); the
    second also names one inside a message, which sends it through the full path. Spelled
    only as AWS does, each record is tested with a plain substring; any other spelling in the
    file makes every record take the case-insensitive test.
    """
    secret = "IQoJb3JpZ2luX2VjEXAMPLESECRET"
    recs = [
        record(
            0,
            eventName="AssumeRole",
            responseElements={"credentials": {"accessKeyId": "ASIAX", "sessionToken": secret}},
            userIdentity={"type": "IAMUser", "onBehalfOf": {"userId": "u", spelling: secret}},
        ),
        record(1, errorMessage=f'bad "sessionToken":"{secret}"', requestParameters={"sessionToken": secret}),
        record(2),
    ]
    data = json.dumps({"Records": recs}, separators=(",", ":")).encode()
    assert cloudtrail._whole_file(data) is not None  # the fast path is the one under test
    table, rejects = run(data, expect="cloudtrail")
    assert not rejects and table.num_rows == 3
    for name in table.column_names:
        for value in table.column(name).to_pylist():
            assert secret not in str(value), name
    raws = [json.loads(x) for x in table.column("raw").to_pylist()]
    assert raws[0]["responseElements"]["credentials"] == {"accessKeyId": "ASIAX", "sessionToken": REDACTED}
    assert json.loads(table.column("response_elements")[0].as_py())["credentials"]["sessionToken"] == REDACTED
    assert raws[2] == recs[2]
