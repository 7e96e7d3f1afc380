"""store: the case folder contract (design.md): partitions, dedup, manifest, quarantine."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import iamforensics as ifx
from iamforensics.errors import CaseError
from iamforensics.schema import EVENTS_SCHEMA, SCHEMA_VERSION
from iamforensics.store import MANIFEST, event_files, init_case, read_quarantine, require_case

# The module, not the function ``iamforensics.ingest`` that the package exports.
ingest_mod = importlib.import_module("iamforensics.ingest")


def record(n: int, day: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": f"2024-05-{day:02d}T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "eventID": f"7f9a1c52-0000-4000-8000-{n:012d}",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bob"},
    } | fields


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


def snapshot(case: Path) -> dict[str, str]:
    """Every file of the events dataset by name, with its sha256."""
    return {str(f.relative_to(case)): hashlib.sha256(f.read_bytes()).hexdigest() for f in event_files(case)}


def ids_in(case: Path) -> list[str]:
    return ifx.open_case(case).sql("SELECT event_id FROM events ORDER BY event_id")["event_id"].tolist()


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    ev = tmp_path / "ev"
    write(ev / "a.json.gz", [record(i) for i in range(0, 30)])
    write(ev / "b.json.gz", [record(i, day=2) for i in range(30, 50)] + [record(5)])  # one copy of a's
    return ev


def test_partitions_by_event_date_zstd_sorted(evidence, tmp_path):
    ifx.ingest([str(evidence)], tmp_path / "case", jobs=1)
    files = event_files(tmp_path / "case")
    assert [f.parent.name for f in files] == ["event_date=2024-05-01", "event_date=2024-05-02"]
    for f in files:
        meta = pq.ParquetFile(f).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        t = pq.read_table(f)
        assert t.schema.remove_metadata().equals(EVENTS_SCHEMA.remove_metadata())
        times = t.column("event_time").to_pylist()
        assert times == sorted(times)
        assert {x.date().isoformat() for x in times} == {f.parent.name.split("=")[1]}


def test_dedup_on_event_id_within_and_across_ingests(evidence, tmp_path):
    case = tmp_path / "case"
    first = ifx.ingest([str(evidence)], case, jobs=1)
    assert (first.counts["read"], first.counts["written"], first.counts["duplicates"]) == (51, 50, 1)
    before = snapshot(case)
    manifest_before = (case / MANIFEST).read_bytes()
    again = ifx.ingest([str(evidence)], case, jobs=1)
    assert (again.counts["written"], again.counts["duplicates"], again.counts["id_conflicts"]) == (0, 51, 0)
    # Nothing but the manifest changed: same partition files, byte for byte.
    assert snapshot(case) == before
    assert (case / MANIFEST).read_bytes() != manifest_before
    assert len(ifx.open_case(case).manifest["runs"]) == 2
    assert len(ids_in(case)) == len(set(ids_in(case))) == 50


def test_new_evidence_adds_to_existing_partitions(evidence, tmp_path):
    case = tmp_path / "case"
    ifx.ingest([str(evidence / "a.json.gz")], case, jobs=1)
    more = write(tmp_path / "more.json.gz", [record(i) for i in range(25, 35)] + [record(99, day=3)])
    report = ifx.ingest([str(more)], case, jobs=1)
    assert (report.counts["written"], report.counts["duplicates"]) == (6, 5)
    assert len(ids_in(case)) == 36
    assert [f.parent.name for f in event_files(case)] == ["event_date=2024-05-01", "event_date=2024-05-03"]


def test_duplicates_across_workers(tmp_path, monkeypatch):
    # Every file its own task, so the copies are staged by different worker processes.
    monkeypatch.setattr(ingest_mod, "TASK_BYTES", 1)
    ev = tmp_path / "ev"
    base = [record(i) for i in range(40)]
    for k in range(4):
        write(ev / f"trail{k}.json.gz", base[k * 10 : k * 10 + 20])  # each overlaps the next by 10
    tasks: list[int] = []
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=2, on_task=lambda rs: tasks.append(len(rs)))
    assert tasks == [1, 1, 1, 1]  # four tasks shared by two worker processes
    c = report.counts
    assert report.identity_holds
    assert (c["read"], c["written"], c["duplicates"], c["id_conflicts"]) == (70, 40, 30, 0)
    assert ids_in(tmp_path / "case") == sorted(r["eventID"] for r in base)


def test_same_id_different_content_is_kept_with_a_suffix(tmp_path):
    ev = tmp_path / "ev"
    original = record(1)
    other_same_day = record(1, eventName="DeleteObject")
    other_day = record(1, day=9, eventName="PutObject")
    write(ev / "a.json.gz", [original])
    write(ev / "b.json.gz", [other_same_day])
    write(ev / "c.json.gz", [other_day])
    case = tmp_path / "case"
    report = ifx.ingest([str(ev)], case, jobs=1)
    assert (report.counts["written"], report.counts["duplicates"], report.counts["id_conflicts"]) == (3, 0, 2)
    df = ifx.open_case(case).sql("SELECT event_id, event_name FROM events ORDER BY event_time, event_name")
    eid = original["eventID"]
    assert df["event_name"].tolist() == ["DeleteObject", "GetObject", "PutObject"]
    got = dict(zip(df["event_name"], df["event_id"], strict=True))
    assert got["GetObject"] == eid  # the first file (sorted by source) keeps the plain id
    for name in ("DeleteObject", "PutObject"):
        assert got[name].startswith(eid + "~") and len(got[name]) == len(eid) + 13
    # The raw column keeps the id as AWS wrote it.
    raws = ifx.open_case(case).sql("SELECT raw FROM events")["raw"]
    assert {json.loads(r)["eventID"] for r in raws} == {eid}
    # Idempotent: the same three again are duplicates, not new conflicts.
    again = ifx.ingest([str(ev)], case, jobs=1)
    assert (again.counts["written"], again.counts["duplicates"], again.counts["id_conflicts"]) == (0, 3, 0)
    assert len(ids_in(case)) == len(set(ids_in(case))) == 3


def test_a_reused_id_arriving_later_on_another_day(tmp_path):
    case = tmp_path / "case"
    ifx.ingest([str(write(tmp_path / "a.json.gz", [record(1)]))], case, jobs=1)
    later = ifx.ingest([str(write(tmp_path / "b.json.gz", [record(1, day=20)]))], case, jobs=1)
    assert (later.counts["written"], later.counts["id_conflicts"]) == (1, 1)
    ids = ids_in(case)
    assert len(ids) == len(set(ids)) == 2 and ids[0] == record(1)["eventID"]


def test_records_without_event_id_get_deterministic_ids(tmp_path):
    no_id = [{k: v for k, v in record(i).items() if k != "eventID"} for i in range(3)]
    case = tmp_path / "case"
    ifx.ingest([str(write(tmp_path / "a.json.gz", no_id))], case, jobs=1)
    first = ids_in(case)
    assert len(set(first)) == 3 and all(i.startswith("synthetic-") for i in first)
    # The same records from another file (another container, pretty-printed): the same ids.
    (tmp_path / "b.json").write_text(json.dumps(no_id, indent=2))
    again = ifx.ingest([str(tmp_path / "b.json")], case, jobs=1)
    assert (again.counts["written"], again.counts["duplicates"]) == (0, 3)
    assert ids_in(case) == first


def test_placeholder_ids_get_a_content_suffix(tmp_path):
    recs = [record(i, eventID="1") for i in range(3)]
    case = tmp_path / "case"
    report = ifx.ingest([str(write(tmp_path / "a.json.gz", recs + recs[:1]))], case, jobs=1)
    assert (report.counts["written"], report.counts["duplicates"], report.counts["id_conflicts"]) == (3, 1, 0)
    assert all(i.startswith("1~") for i in ids_in(case))


def test_manifest(evidence, tmp_path):
    case = tmp_path / "case"
    bad = tmp_path / "ev" / "c.json"
    bad.write_text('{"Records": [{"eventName": "x"}]}')
    report = ifx.ingest([str(evidence)], case, jobs=1)
    m = json.loads((case / MANIFEST).read_text())
    assert m["schema_version"] == SCHEMA_VERSION and m["tool_version"] == ifx.__version__
    (run,) = m["runs"]
    assert run["run_id"] == report.run_id and run["identity_holds"] is True
    assert run["evidence"] == [str(evidence)]
    assert run["counts"] == report.counts | {"read": 52, "written": 50, "duplicates": 1, "quarantined": 1}
    assert run["quarantine_reasons"] == {"missing eventTime": 1}
    assert run["options"]["jobs"] == 1 and run["options"]["strict"] is False
    by_name = {Path(s["source"]).name: s for s in run["sources"]}
    assert set(by_name) == {"a.json.gz", "b.json.gz", "c.json"}
    for name, s in by_name.items():
        data = (evidence / name).read_bytes()
        assert s["size"] == len(data) and s["sha256"] == hashlib.sha256(data).hexdigest()
    assert (by_name["a.json.gz"]["records"], by_name["a.json.gz"]["staged"]) == (30, 30)
    assert by_name["a.json.gz"]["compression"] == "gzip" and by_name["a.json.gz"]["format"] == "cloudtrail"
    assert (by_name["c.json"]["records"], by_name["c.json"]["quarantined"]) == (1, 1)
    assert run["started"] <= run["finished"]


def test_quarantine_entries(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    good = record(1)
    no_time = {k: v for k, v in record(2).items() if k != "eventTime"}
    (ev / "mixed.json").write_text(json.dumps([good, no_time, record(3, eventTime="redacted")]))
    (ev / "broken.json").write_text('{"Records": [{"eventTime": "2024')
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=1)
    assert report.identity_holds
    q = sorted(read_quarantine(tmp_path / "case"), key=lambda e: (e["source"], e["position"]))
    assert [(Path(e["source"]).name, e["position"], e["reason"]) for e in q] == [
        ("broken.json", 0, "line 1: invalid JSON: Input data was truncated"),
        ("mixed.json", 1, "missing eventTime"),
        ("mixed.json", 2, "unparseable eventTime 'redacted'"),
    ]
    assert q[0]["text"] == '{"Records": [{"eventTime": "2024'
    assert json.loads(q[1]["text"]) == no_time
    assert json.loads(q[2]["text"])["eventID"] == record(3)["eventID"]


def test_quarantine_redacts_session_tokens(tmp_path):
    rec = record(1, eventTime="redacted", responseElements={"credentials": {"sessionToken": "IQoJSECRET"}})
    (tmp_path / "a.json").write_text(json.dumps([rec]) + "\n")
    (tmp_path / "b.json").write_text('{"Records": [{"sessionToken": "IQoJOTHER", "eventTime": ')
    ifx.ingest([str(tmp_path / "a.json"), str(tmp_path / "b.json")], tmp_path / "case", jobs=1)
    q = read_quarantine(tmp_path / "case")
    assert len(q) == 2
    text = json.dumps(q)
    assert "IQoJSECRET" not in text and "IQoJOTHER" not in text and "redacted by iamforensics" in text


def test_case_folder_rules(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("x")
    with pytest.raises(CaseError, match="not empty and is not a case"):
        init_case(tmp_path / "stuff")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CaseError, match="not a folder"):
        init_case(tmp_path / "file")
    with pytest.raises(CaseError, match="no such case folder"):
        require_case(tmp_path / "absent")
    with pytest.raises(CaseError, match="not a case folder"):
        require_case(tmp_path / "stuff")
    root = init_case(tmp_path / "new")
    assert sorted(p.name for p in root.iterdir()) == ["case.json", "derived", "events", "quarantine"]
    assert init_case(root) == root  # reopening an existing case is fine


def test_two_full_records_under_one_id_and_time_are_both_kept(tmp_path):
    # The AWS docs show a root sign-in twice under one eventID: without MFA, and with "YES".
    base = record(1, eventSource="signin.amazonaws.com", eventName="ConsoleLogin")
    no_mfa = base | {"additionalEventData": {"MFAUsed": "No"}}
    mfa = base | {"additionalEventData": {"MFAUsed": "YES", "MFAIdentifier": "arn:aws:iam::1:mfa/root"}}
    # A tool's copy of the first one: extra keys, another key order, pretty-printed. Same record.
    tool_copy = {"p_event_time": "2024-05-01 10:00:01", **dict(reversed(list(no_mfa.items())))}
    ev = tmp_path / "ev"
    write(ev / "a.json.gz", [no_mfa])
    write(ev / "b.json.gz", [mfa])
    (ev / "c.json").write_text(json.dumps([tool_copy], indent=2))
    case = tmp_path / "case"
    report = ifx.ingest([str(ev)], case, jobs=1)
    c = report.counts
    assert (c["written"], c["duplicates"], c["id_conflicts"]) == (2, 1, 1)
    df = ifx.open_case(case).sql("SELECT event_id, mfa_used FROM events ORDER BY event_id")
    assert df["mfa_used"].tolist() == [False, True]
    assert df["event_id"][0] == base["eventID"] and df["event_id"][1].startswith(base["eventID"] + "~")
    again = ifx.ingest([str(ev)], case, jobs=1)
    assert (again.counts["written"], again.counts["duplicates"], again.counts["id_conflicts"]) == (0, 3, 0)
