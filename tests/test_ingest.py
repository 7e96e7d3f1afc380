"""ingest end to end: real public evidence, every kind of bad input, --strict, parallel workers.

The accounting identity read == written + duplicates + quarantined is asserted on every
run; the raw column is compared with the records as published (sessionToken aside).
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iamforensics as ifx
from iamforensics.errors import EvidenceError
from iamforensics.normalize import REDACTED
from iamforensics.store import MANIFEST, event_files, read_quarantine
from tests.conftest import shared_path

ingest_mod = importlib.import_module("iamforensics.ingest")


def without_token(value: Any) -> Any:
    """A record as the raw column must hold it: sessionToken values redacted, nothing else."""
    if isinstance(value, dict):
        return {
            k: REDACTED if k.lower() == "sessiontoken" and v not in (None, "") else without_token(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_token(v) for v in value]
    return value


def check_case(report: ifx.ingest.__class__ | Any, case: Path) -> pd.DataFrame:
    """Identity holds, no event id twice; returns the case's provenance and raw columns."""
    c = report.counts
    assert report.identity_holds
    assert c["read"] == c["written"] + c["duplicates"] + c["quarantined"]
    df = ifx.open_case(case).sql("SELECT event_id, source, source_index, raw FROM events")
    assert len(df) == c["written"]
    assert df["event_id"].is_unique
    return df


def assert_raw_matches(df: pd.DataFrame, expected: Callable[[str, int], Any]) -> None:
    """Every row's raw parses back to the record at its (source, source_index)."""
    for source, idx, raw in zip(df["source"], df["source_index"], df["raw"], strict=True):
        assert json.loads(raw) == without_token(expected(source, int(idx))), (source, idx)


def row(case: Path, event_id: str) -> dict[str, Any]:
    df = ifx.open_case(case).events(columns=None)
    hit = df[df["event_id"] == event_id]
    assert len(hit) == 1
    # pandas shows a missing value as NaN/NA; the tests compare with None.
    return {
        k: None if pd.api.types.is_scalar(v) and pd.isna(v) else v for k, v in hit.iloc[0].to_dict().items()
    }


def _json_file(path: str) -> list[Any]:
    value = json.loads(Path(path).read_text())
    return value if isinstance(value, list) else [value]


# --- real evidence ----------------------------------------------------------------------------


def test_stratus(tmp_path):
    src = shared_path("stratus-red-team-detonation-logs", "raw")
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    c = report.counts
    assert (c["read"], c["written"], c["duplicates"], c["quarantined"]) == (310, 310, 0, 0)
    # The LICENSE text is not evidence: listed, zero records.
    skipped = [s for s in report.sources if s.get("format") == "not-evidence"]
    assert [(Path(s["source"]).name, s["records"]) for s in skipped] == [("LICENSE", 0)]
    df = check_case(report, tmp_path / "case")
    assert_raw_matches(df, lambda source, i: _json_file(source)[i])
    # Spot values, read off the files.
    r = row(tmp_path / "case", "865d9377-9c6b-4fd7-8aad-725e95f6a140")  # console-login-without-mfa
    assert r["actor"] == "arn:aws:iam::562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl"
    assert (r["source_ip_address"], r["source_ip"], r["ip_class"]) == ("225.01.00.16", None, "invalid")
    assert r["event_time"] == pd.Timestamp("2024-08-02T08:53:24Z")
    assert (r["login_result"], r["mfa_used"], r["aws_region"]) == ("Success", False, "eu-west-2r")
    r = row(tmp_path / "case", "91529247-c4c4-4793-afc8-d70bbcfe9d19")  # the federated session
    assert (r["user_type"], r["actor"], r["session_name"]) == (
        "FederatedUser",
        "arn:aws:sts::742491224508:federated-user/stratus_red_team",
        "stratus_red_team",
    )
    assert (r["access_key_id"], r["key_type"], r["session_issuer_type"]) == (
        "ASIASTJKC5GCM7ZE6LUP",
        "temporary",
        "IAMUser",
    )
    assert r["session_creation_date"] == pd.Timestamp("2024-11-30T08:43:17Z")
    r = row(tmp_path / "case", "6e882b9d-2af8-4c67-b91f-aeac6a0e5e70")  # GetFederationToken
    creds = json.loads(r["response_elements"])["credentials"]
    assert creds["accessKeyId"] == "ASIASTJKC5GCM7ZE6LUP" and creds["sessionToken"] == REDACTED
    assert r["user_agent_family"] == "sdk:go"
    r = row(tmp_path / "case", "b379479b-05c9-4c3c-af4b-cbd43acf29e1")  # stolen instance credentials
    assert r["session_name"] == "i-786a3A8B5C0d92eF4" and r["ip_class"] == "public"
    # Re-ingesting the same evidence changes nothing but the manifest.
    before = {f.name for f in event_files(tmp_path / "case")}
    again = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    assert (again.counts["written"], again.counts["duplicates"]) == (0, 310)
    assert {f.name for f in event_files(tmp_path / "case")} == before


def test_traildiscover_log_examples(tmp_path):
    src = shared_path("traildiscover-log-examples", "raw", "docs", "logExamples")
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    c = report.counts
    # SOURCE.md: 563 events, 249 of them the same event filed under a second name.
    assert (c["read"], c["written"], c["duplicates"], c["quarantined"], c["id_conflicts"]) == (
        563,
        314,
        249,
        0,
        0,
    )
    df = check_case(report, tmp_path / "case")
    assert_raw_matches(df, lambda source, i: _json_file(source)[i])
    case = ifx.open_case(tmp_path / "case")
    types = case.sql("SELECT coalesce(user_type, '-') t, count(*) n FROM events GROUP BY 1")
    assert set(types["t"]) == {"IAMUser", "AssumedRole", "Unknown", "-"}
    assert case.sql("SELECT count(*) n FROM events WHERE source_ip_address = '0.0.0.0'")["n"][0] == 314
    # Spot values, read off StopLogging.json.cloudtrail.
    r = row(tmp_path / "case", "de53d94e-f8b3-4111-b2d2-4f1c2f77a2b1")
    assert (r["event_name"], r["error_code"], r["is_error"]) == ("StopLogging", "AccessDenied", True)
    assert r["actor"] == "arn:aws:iam::111111111111:user/TrailDiscover"
    assert (r["source_ip_address"], r["ip_class"], r["event_version"]) == ("0.0.0.0", "invalid", "1.10")
    assert r["event_time"] == pd.Timestamp("2024-08-18T13:01:07Z")
    # The masked key and principal id are kept as written.
    assert (r["access_key_id"], r["key_type"], r["principal_id"]) == (
        "AKIA****************",
        "long-term",
        "AROA****************:User",
    )
    # eventVersion strings as published, "1.10" included.
    versions = set(case.sql("SELECT DISTINCT event_version v FROM events")["v"].dropna())
    assert {"1.08", "1.09", "1.10", "1.11"} <= versions


def _jsonl_events(source: str) -> list[Any]:
    return [json.loads(line)["event"] for line in Path(source).read_text().splitlines() if line.strip()]


def test_awsdocs_examples_wrapped(tmp_path):
    src = shared_path("awsdocs-cloudtrail-user-guide-examples", "derived", "doc_example_events.jsonl")
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    assert report.sources[0]["format"] == "wrapped"
    df = check_case(report, tmp_path / "case")
    events = _jsonl_events(str(src))
    assert report.counts["read"] == len(events) == 24
    assert_raw_matches(df, lambda source, i: events[i])
    case = ifx.open_case(tmp_path / "case")
    insights = case.sql("SELECT count(*) n FROM events WHERE event_category = 'Insight'")["n"][0]
    assert insights == 3
    mfa = case.sql("SELECT mfa_used FROM events WHERE event_name = 'ConsoleLogin' AND user_type = 'Root'")
    assert True in set(mfa["mfa_used"])  # the doc's root example literally says MFAUsed "YES"


def test_panther_tests_wrapped(tmp_path):
    folder = shared_path("panther-analysis-cloudtrail-tests", "derived")
    report = ifx.ingest([str(folder)], tmp_path / "case", jobs=1)
    df = check_case(report, tmp_path / "case")
    c = report.counts
    assert c["read"] == 464 + 27
    # The same UUID reused across rule tests on several days is an id conflict, never a repeated id.
    assert c["id_conflicts"] > 0
    lines = {p: _jsonl_events(str(p)) for p in folder.glob("*.jsonl")}
    assert_raw_matches(df, lambda source, i: lines[Path(source)][i])
    # The hand-written scenario: root stops logging; its placeholder id "1" gets a content suffix.
    case = ifx.open_case(tmp_path / "case")
    stop = case.events(event_names="StopLogging", source_ip="92.55.146.245")
    assert len(stop) == 1 and stop["event_id"][0].startswith("1~")
    assert (stop["actor"][0], stop["user_type"][0]) == ("arn:aws:iam::493859302102:root", "Root")
    assert stop["event_time"][0] == pd.Timestamp("2020-11-01T08:30:03Z")
    reasons = {q["reason"] for q in read_quarantine(tmp_path / "case")}
    assert reasons == {"missing eventTime", "unparseable eventTime 'redacted'", "unparseable eventTime '...'"}


def test_otrf_logstash_zip(tmp_path):
    archive = shared_path("otrf-ec2-proxy-s3-exfil", "raw", "ec2_proxy_s3_exfiltration.zip")
    report = ifx.ingest([str(archive)], tmp_path / "case", jobs=1)
    assert report.counts["read"] == report.counts["written"] == 103
    df = check_case(report, tmp_path / "case")
    with zipfile.ZipFile(archive) as zf:
        (member,) = zf.namelist()
        lines = [json.loads(x) for x in zf.read(member).decode().splitlines() if x.strip()]
    assert_raw_matches(df, lambda source, i: lines[i])
    # Real STS session tokens are in this evidence; none may reach the case.
    tokens = {
        line["responseElements"]["credentials"]["sessionToken"]
        for line in lines
        if isinstance(line.get("responseElements"), dict) and "credentials" in line["responseElements"]
    }
    assert len(tokens) == 5
    blob = ifx.open_case(tmp_path / "case").sql("SELECT * FROM events").to_json(date_format="iso")
    assert not any(t[:40] in blob for t in tokens)
    first = lines[0]
    r = row(tmp_path / "case", first["eventID"])
    # No eventTime in a Logstash export: @timestamp stands in, and the row says so.
    assert r["event_time"] == pd.Timestamp(first["@timestamp"])
    assert r["fidelity"] == "partial" and list(r["missing_fields"]) == ["eventTime"]


def test_plaso_lookup_events(tmp_path):
    src = shared_path("plaso-lookup-events-jsonl", "raw", "aws_cloudtrail.jsonl")
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    assert report.counts["written"] == 6
    check_case(report, tmp_path / "case")


# --- bad input ----------------------------------------------------------------------------------


def rec(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": f"2024-06-0{1 + n % 3}T12:00:{n % 60:02d}Z",
        "eventID": f"4b0a7e3c-1111-4000-8000-{n:012d}",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "us-west-2",
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::210987654321:assumed-role/R/s{n}"},
    } | fields


GOOD = [rec(i) for i in range(20)]


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    """A folder with one good trail file; tests add one bad file next to it."""
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "good.json.gz").write_bytes(gzip.compress(json.dumps({"Records": GOOD}).encode()))
    return ev


def ingest_bad(ev: Path, case: Path, **kw: Any) -> tuple[Any, list[dict[str, Any]]]:
    report = ifx.ingest([str(ev)], case, jobs=1, **kw)
    check_case(report, case)
    ids = set(ifx.open_case(case).sql("SELECT event_id FROM events")["event_id"])
    assert {r["eventID"] for r in GOOD} <= ids  # the rest of the evidence still ingests
    return report, read_quarantine(case)


def only(quarantine: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [q for q in quarantine if Path(q["source"].split("!")[0]).name == name]


def test_truncated_gzip(evidence, tmp_path):
    data = gzip.compress(json.dumps({"Records": [rec(i) for i in range(100, 200)]}).encode())
    (evidence / "cut.json.gz").write_bytes(data[: len(data) * 2 // 3])
    report, q = ingest_bad(evidence, tmp_path / "case")
    (entry,) = only(q, "cut.json.gz")
    assert entry["reason"].startswith("truncated gzip stream") and entry["position"] == 0
    src = next(s for s in report.sources if s["source"].endswith("cut.json.gz"))
    assert src["error"] == entry["reason"] and src["sha256"] and src["size"] == len(data) * 2 // 3


def test_invalid_json(evidence, tmp_path):
    (evidence / "bad.json").write_text('{"Records": [{"eventTime": "2024-06-01T00:00:00Z", "eventName": }]}')
    _, q = ingest_bad(evidence, tmp_path / "case")
    (entry,) = only(q, "bad.json")
    assert entry["reason"].startswith("line 1: invalid JSON: JSON is malformed")
    assert entry["text"].startswith('{"Records"')


def test_json_that_is_not_cloudtrail(evidence, tmp_path):
    (evidence / "flow.json").write_text(json.dumps([{"version": 2, "account-id": "1", "action": "ACCEPT"}]))
    report, q = ingest_bad(evidence, tmp_path / "case")
    (entry,) = only(q, "flow.json")
    assert "not" in entry["reason"] and entry["text"]


def test_empty_files(evidence, tmp_path):
    (evidence / "zero.json").write_bytes(b"")
    (evidence / "blank.json").write_bytes(b" \n\n")
    (evidence / "empty.json.gz").write_bytes(gzip.compress(b""))
    (evidence / "none.json").write_text("[]")
    report, q = ingest_bad(evidence, tmp_path / "case")
    notes = {Path(s["source"]).name: s.get("note") for s in report.sources}
    assert notes == {"zero.json": "empty file", "blank.json": "empty file", "empty.json.gz": "empty file"} | {
        "none.json": None,
        "good.json.gz": None,
    }
    assert report.counts["empty"] == 3 and q == []


def test_records_without_event_time_or_event_id(evidence, tmp_path):
    no_time = {k: v for k, v in rec(300).items() if k != "eventTime"}
    no_id = {k: v for k, v in rec(301).items() if k != "eventID"}
    (evidence / "partial.json").write_text(json.dumps([no_time, no_id, rec(302, eventTime="redacted")]))
    report, q = ingest_bad(evidence, tmp_path / "case")
    assert [(e["position"], e["reason"]) for e in only(q, "partial.json")] == [
        (0, "missing eventTime"),
        (2, "unparseable eventTime 'redacted'"),
    ]
    ids = ifx.open_case(tmp_path / "case").sql(
        "SELECT event_id FROM events WHERE source LIKE '%partial.json'"
    )
    assert [i.startswith("synthetic-") for i in ids["event_id"]] == [True]


def test_invalid_utf8(evidence, tmp_path):
    bad = json.dumps(rec(400, eventName="ZZZZ")).encode().replace(b"ZZZZ", b"\xff\xfe\xfd\xfc")
    (evidence / "latin.json").write_bytes(b"[" + json.dumps(rec(401)).encode() + b"," + bad + b"]")
    _, q = ingest_bad(evidence, tmp_path / "case")
    (entry,) = only(q, "latin.json")
    assert entry["position"] == 1 and entry["reason"].startswith("invalid UTF-8 at byte ")
    assert "\\xff" in entry["text"]  # the bytes are kept, escaped
    assert len(ifx.open_case(tmp_path / "case").events(event_names="DescribeInstances")) == 21


def test_wrong_field_types(evidence, tmp_path):
    odd = rec(500, eventName=42, userIdentity="root", readOnly="yes", requestParameters='{"a": 1}')
    (evidence / "odd.json").write_text(json.dumps([odd]))
    _, q = ingest_bad(evidence, tmp_path / "case")
    assert only(q, "odd.json") == []
    r = row(tmp_path / "case", odd["eventID"])
    assert (r["event_name"], r["user_type"], r["read_only"]) == ("42", None, True)
    assert json.loads(r["request_parameters"]) == {"a": 1}


def test_file_disappears_after_discovery(evidence, tmp_path, monkeypatch):
    doomed = evidence / "doomed.json"
    doomed.write_text(json.dumps([rec(600)]))
    real = ingest_mod.discover

    def discover_then_delete(*a: Any, **k: Any) -> Any:
        refs = real(*a, **k)
        doomed.unlink()  # gone between listing and reading
        return refs

    monkeypatch.setattr(ingest_mod, "discover", discover_then_delete)
    report, q = ingest_bad(evidence, tmp_path / "case")
    (entry,) = only(q, "doomed.json")
    assert entry["reason"].startswith("cannot read: FileNotFoundError")
    assert report.counts["unreadable"] == 1


def test_file_unreadable_mid_run(evidence, tmp_path, monkeypatch):
    # Tests run as root, where chmod 000 does not stop reads: fail the open instead.
    (evidence / "locked.json").write_text(json.dumps([rec(700)]))
    real_open = open

    def guarded_open(file: Any, *a: Any, **k: Any) -> Any:
        if str(file).endswith("locked.json") and "b" in (a[0] if a else k.get("mode", "r")):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    sources = importlib.import_module("iamforensics.sources")
    monkeypatch.setattr(sources, "open", guarded_open, raising=False)
    report, q = ingest_bad(evidence, tmp_path / "case")
    (entry,) = only(q, "locked.json")
    assert (
        entry["reason"]
        == f"cannot read: PermissionError: [Errno 13] Permission denied: '{evidence / 'locked.json'}'"
    )
    src = next(s for s in report.sources if s["source"].endswith("locked.json"))
    assert src["unreadable"] is True


def test_one_huge_file_is_normalized_in_batches(tmp_path, monkeypatch):
    n = 200_000
    head, tail = json.dumps(rec(0)).split('"eventID": ')
    tail = tail.split(", ", 1)[1]
    parts = []
    for i in range(n):
        t = f"2024-06-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        parts.append(
            head.replace("2024-06-01T12:00:00Z", t)
            + f'"eventID": "4b0a7e3c-2222-4000-8000-{i:012d}", '
            + tail
        )
    (tmp_path / "huge.json").write_text('{"Records":[' + ",".join(parts) + "]}")
    batches: list[int] = []
    real = ingest_mod.normalize_groups

    def spy(groups: Any) -> Any:
        batches.append(sum(len(g[0]) for g in groups))
        return real(groups)

    monkeypatch.setattr(ingest_mod, "normalize_groups", spy)
    report = ifx.ingest([str(tmp_path / "huge.json")], tmp_path / "case", jobs=1)
    assert report.counts["read"] == report.counts["written"] == n
    assert max(batches) <= ingest_mod.BATCH and sum(batches) == n and len(batches) >= n // ingest_mod.BATCH
    assert len(ifx.open_case(tmp_path / "case")) == n


def test_small_files_are_normalized_together_and_each_keeps_its_own_counts(tmp_path, monkeypatch):
    # 40 delivery files of 3 records (one with an unparseable eventTime each): one
    # normalize call for all of them, yet each file's manifest entry and quarantine line
    # name that file, and the accounting identity holds.
    ev = tmp_path / "ev"
    ev.mkdir()
    for f in range(40):
        recs = [rec(f * 3 + i) for i in range(3)]
        recs[1]["eventTime"] = f"not a time {f}"
        (ev / f"f{f:02d}.json").write_text(json.dumps({"Records": recs}))
    calls: list[int] = []
    real = ingest_mod.normalize_groups

    def spy(groups: Any) -> Any:
        calls.append(len(groups))
        return real(groups)

    monkeypatch.setattr(ingest_mod, "normalize_groups", spy)
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=1)
    assert calls == [40]
    assert report.identity_holds and report.counts["written"] == 80 and report.counts["quarantined"] == 40
    for src in report.sources:
        assert (src["records"], src["staged"], src["quarantined"]) == (3, 2, 1)
    q = {(Path(x["source"]).name, x["reason"]) for x in read_quarantine(tmp_path / "case")}
    assert q == {(f"f{f:02d}.json", f"unparseable eventTime 'not a time {f}'") for f in range(40)}
    df = ifx.open_case(tmp_path / "case").events()
    assert sorted(df.groupby("source").size().to_dict().values()) == [2] * 40


# --- strict ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "b-bad.json",
            b'[{"eventTime": "2024-06-01T00:00:00Z", "eventName": "A"}, {"eventName": "B"}]',
            "record 1: missing eventTime",
        ),
        ("b-cut.json.gz", gzip.compress(b"[" + b" " * 5000 + b"]", mtime=0)[:30], "truncated gzip stream"),
        ("b-empty.json", b"", "empty file"),
        ("b-yaml.yml", b"eventName: ConsoleLogin\neventTime: 2024\n", "no known evidence format matches"),
    ],
    ids=["bad-record", "truncated-gzip", "empty-file", "yaml"],
)
def test_strict_stops_at_the_first_problem_and_leaves_the_case_unchanged(
    evidence, tmp_path, name, content, message
):
    case = tmp_path / "case"
    ifx.ingest([str(evidence)], case, jobs=1)
    manifest = (case / MANIFEST).read_bytes()
    files = {f.name for f in event_files(case)}
    (evidence / name).write_bytes(content)
    (evidence / "c-more.json").write_text(json.dumps([rec(800)]))
    with pytest.raises(EvidenceError) as err:
        ifx.ingest([str(evidence)], case, jobs=1, strict=True)
    assert str(err.value).startswith(str(evidence / name)) and message in str(err.value)
    assert (case / MANIFEST).read_bytes() == manifest
    assert {f.name for f in event_files(case)} == files
    assert read_quarantine(case) == [] and not (case / ".staging").exists()


def test_strict_on_a_new_case_leaves_no_case_behind(evidence, tmp_path):
    (evidence / "bad.json").write_text("[{}]")
    with pytest.raises(EvidenceError, match="bad.json: record 0: not a CloudTrail record"):
        ifx.ingest([str(evidence)], tmp_path / "new-case", jobs=1, strict=True)
    assert not (tmp_path / "new-case").exists()


def test_strict_with_workers(evidence, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_mod, "TASK_BYTES", 1)
    for k in range(3):
        (evidence / f"more{k}.json").write_text(json.dumps([rec(900 + k)]))
    (evidence / "zz-bad.json").write_text('[{"eventName": "x"}]')
    with pytest.raises(EvidenceError, match=r"zz-bad.json: record 0: missing eventTime"):
        ifx.ingest([str(evidence)], tmp_path / "case", jobs=2, strict=True)
    assert not (tmp_path / "case").exists()


def test_clean_evidence_passes_strict(evidence, tmp_path):
    report = ifx.ingest([str(evidence)], tmp_path / "case", jobs=1, strict=True)
    assert report.counts["written"] == 20


# --- parallel -----------------------------------------------------------------------------------


def test_jobs_2_gives_the_same_case_as_jobs_1(tmp_path, monkeypatch):
    src = shared_path("stratus-red-team-detonation-logs", "raw")
    monkeypatch.setattr(ingest_mod, "TASK_BYTES", 64 * 1024)  # several tasks for two workers
    ifx.ingest([str(src)], tmp_path / "one", jobs=1)
    ifx.ingest([str(src)], tmp_path / "two", jobs=2)
    cols = "* EXCLUDE (event_date)"
    a = ifx.open_case(tmp_path / "one").sql(f"SELECT {cols} FROM events ORDER BY event_id")
    b = ifx.open_case(tmp_path / "two").sql(f"SELECT {cols} FROM events ORDER BY event_id")
    assert len(a) == 310
    pd.testing.assert_frame_equal(a, b)
    assert [f.parent.name for f in event_files(tmp_path / "one")] == [
        f.parent.name for f in event_files(tmp_path / "two")
    ]


# --- hypothesis: damage to one file never costs a record of another ------------------------------

FILES = {f"f{k}.json": [rec(1000 + 10 * k + i) for i in range(3)] for k in range(3)}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    victim=st.sampled_from(sorted(FILES)),
    gz=st.booleans(),
    damage=st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("bytes"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("replace"), st.binary(max_size=64)),
    ),
)
def test_corrupting_one_file_never_loses_a_good_record_of_another(tmp_path_factory, victim, gz, damage):
    ev = tmp_path_factory.mktemp("ev")
    for name, recs in FILES.items():
        data = json.dumps({"Records": recs}).encode()
        if gz:
            data = gzip.compress(data)
        if name == victim:
            if damage[0] == "truncate":
                data = data[: int(len(data) * damage[1])]
            elif damage[0] == "bytes":
                at = int(len(data) * damage[1])
                data = data[:at] + damage[2] + data[at + len(damage[2]) :]
            else:
                data = damage[1]
        (ev / name).write_bytes(data)
    case = tmp_path_factory.mktemp("case") / "c"
    report = ifx.ingest([str(ev)], case, jobs=1)
    check_case(report, case)
    ids = set(ifx.open_case(case).sql("SELECT event_id FROM events")["event_id"])
    for name, recs in FILES.items():
        if name != victim:
            assert {r["eventID"] for r in recs} <= ids
    # Nothing vanished silently: the victim is listed, with what it yielded or why not.
    assert any(Path(s["source"]).name == victim for s in report.sources)


def test_unlisted_kwargs_are_rejected():
    with pytest.raises(TypeError):
        ifx.ingest([], "x", nonsense=True)  # type: ignore[call-arg]


def test_format_option_is_checked_before_anything_is_written(tmp_path):
    with pytest.raises(EvidenceError, match="unknown format 'nope'"):
        ifx.ingest([str(tmp_path)], tmp_path / "case", fmt="nope")
    assert not (tmp_path / "case").exists()


def test_missing_evidence_creates_no_case(tmp_path):
    with pytest.raises(EvidenceError, match="no such file or folder"):
        ifx.ingest([str(tmp_path / "nothing")], tmp_path / "case")
    assert not (tmp_path / "case").exists()
    assert os.listdir(tmp_path) == []


def test_path_objects_and_a_single_path_are_accepted(evidence, tmp_path):
    assert ifx.ingest([evidence / "good.json.gz"], tmp_path / "a", jobs=1).counts["written"] == 20
    assert ifx.ingest(evidence, tmp_path / "b", jobs=1).counts["written"] == 20


def test_no_evidence_is_an_error(tmp_path):
    with pytest.raises(EvidenceError, match="no evidence given"):
        ifx.ingest([], tmp_path / "case")
    assert not (tmp_path / "case").exists()
