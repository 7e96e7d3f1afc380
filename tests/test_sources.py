"""sources: files, folders in the S3 layouts, globs and archives, read as streams with a size cap."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import iamforensics as ifx
from iamforensics.errors import EvidenceError
from iamforensics.sources import Blob, UnitError, decompress, discover, open_units
from iamforensics.store import read_quarantine

ACCT, MEMBER, ORG = "111122223333", "012345678901", "o-a1b2c3d4e5"


def record(n: int, acct: str = ACCT, **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventTime": f"2024-05-01T09:{n // 60:02d}:{n % 60:02d}Z",
        "eventID": f"5c1f0a6e-0000-4000-8000-{n:012d}",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "recipientAccountId": acct,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{acct}:user/alice", "accountId": acct},
    } | fields


def trail_file(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def s3_key(
    acct: str, region: str, day: str, unique: str, org: str | None = None, kind: str = "CloudTrail"
) -> str:
    y, m, d = day.split("-")
    stamp = f"{y}{m}{d}T0905Z"
    prefix = f"AWSLogs/{org}/{acct}" if org else f"AWSLogs/{acct}"
    return f"{prefix}/{kind}/{region}/{y}/{m}/{d}/{acct}_{kind}_{region}_{stamp}_{unique}.json.gz"


DIGEST = {
    "awsAccountId": ACCT,
    "digestStartTime": "2024-05-01T08:05:00Z",
    "digestEndTime": "2024-05-01T09:05:00Z",
    "digestS3Bucket": "trail-bucket",
    "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/"
    "111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20240501T090500Z.json.gz",
    "digestPublicKeyFingerprint": "0123456789abcdef0123456789abcdef",
    "digestSignatureAlgorithm": "SHA256withRSA",
    "newestEventTime": "2024-05-01T09:00:02Z",
    "oldestEventTime": "2024-05-01T09:00:00Z",
    "previousDigestS3Bucket": None,
    "previousDigestS3Object": None,
    "previousDigestHashValue": None,
    "previousDigestHashAlgorithm": None,
    "previousDigestSignature": None,
    "logFiles": [],
}

INSIGHT = {
    "eventVersion": "1.07",
    "eventTime": "2024-05-01T09:30:00Z",
    "awsRegion": "us-east-1",
    "eventID": "9e0c3fc6-46c0-4b77-b2b5-ef6bd9d26b2b",
    "eventType": "AwsCloudTrailInsight",
    "recipientAccountId": ACCT,
    "sharedEventID": "bb8fe5e4-1f8d-4a4a-b0dc-32ab8d5a7b6e",
    "insightDetails": {"state": "Start", "eventName": "ListUsers", "insightType": "ApiCallRateInsight"},
    "eventCategory": "Insight",
}


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """A bucket copy with an account trail, an organization trail, a digest and an Insights file."""
    root = tmp_path / "bucket"
    files = {
        s3_key(ACCT, "us-east-1", "2024-05-01", "aaaaaaaaaaaaaaaa"): trail_file([record(0), record(1)]),
        s3_key(ACCT, "eu-west-1", "2024-05-02", "bbbbbbbbbbbbbbbb"): trail_file([record(2)]),
        s3_key(MEMBER, "us-east-1", "2024-05-01", "cccccccccccccccc", org=ORG): trail_file(
            [record(3, MEMBER), record(4, MEMBER)]
        ),
        DIGEST["digestS3Object"]: gzip.compress(json.dumps(DIGEST).encode()),
        s3_key(ACCT, "us-east-1", "2024-05-01", "dddddddddddddddd", kind="CloudTrail-Insight"): trail_file(
            [INSIGHT]
        ),
    }
    for key, data in files.items():
        p = root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def test_folder_recursion_in_both_s3_layouts(bucket, tmp_path):
    refs = discover([str(bucket)])
    rel = sorted(str(Path(r.display).relative_to(bucket)) for r in refs)
    assert len(rel) == 5
    assert any(p.startswith(f"AWSLogs/{ORG}/{MEMBER}/CloudTrail/us-east-1/2024/05/01/") for p in rel)
    assert any(p.startswith(f"AWSLogs/{ACCT}/CloudTrail/eu-west-1/2024/05/02/") for p in rel)
    report = ifx.ingest([str(bucket)], tmp_path / "case", jobs=1)
    c = report.counts
    assert (c["read"], c["written"], c["quarantined"]) == (6, 6, 0)
    case = ifx.open_case(tmp_path / "case")
    accounts = case.sql("SELECT recipient_account_id a, count(*) n FROM events GROUP BY 1 ORDER BY 1")
    assert dict(zip(accounts["a"], accounts["n"], strict=True)) == {MEMBER: 2, ACCT: 4}


def test_digest_is_listed_not_ingested(bucket, tmp_path):
    report = ifx.ingest([str(bucket)], tmp_path / "case", jobs=1)
    assert [Path(d).name for d in report.digests] == [Path(DIGEST["digestS3Object"]).name]
    (entry,) = [s for s in report.sources if s.get("kind") == "digest"]
    assert entry["format"] == "digest" and entry["records"] == 0 and entry["sha256"]
    manifest = ifx.open_case(tmp_path / "case").manifest
    assert manifest["runs"][0]["digests"] == report.digests
    assert len(ifx.open_case(tmp_path / "case")) == 6  # 5 events + 1 insight, no digest row


def test_insights_records_are_kept_as_insight(bucket, tmp_path):
    ifx.ingest([str(bucket)], tmp_path / "case", jobs=1)
    df = ifx.open_case(tmp_path / "case").sql(
        "SELECT event_id, event_category, event_type, json_extract_string(insight_details, '$.state') s "
        "FROM events WHERE event_category = 'Insight'"
    )
    assert df.to_dict("records") == [
        {
            "event_id": INSIGHT["eventID"],
            "event_category": "Insight",
            "event_type": "AwsCloudTrailInsight",
            "s": "Start",
        }
    ]


def test_globs(bucket):
    hits = discover([str(bucket / "AWSLogs" / "*" / "CloudTrail" / "*" / "2024" / "05" / "01" / "*.json.gz")])
    assert [Path(r.display).name[:12] for r in hits] == [ACCT]
    recursive = discover([str(bucket / "**" / "*_CloudTrail_*.json.gz")])
    assert len(recursive) == 3  # account us-east-1 and eu-west-1, org member; not the digest/insight
    with pytest.raises(EvidenceError, match="no evidence matches"):
        discover([str(bucket / "*.nothing")])


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(EvidenceError, match="no such file or folder"):
        discover([str(tmp_path / "absent")])


def test_the_same_file_twice_is_one_unit(bucket):
    one = discover([str(bucket)])
    assert len(discover([str(bucket), str(bucket / "AWSLogs"), str(bucket)])) == len(one)


def test_hidden_files_and_excluded_folders_are_skipped(bucket):
    (bucket / ".DS_Store").write_bytes(b"\x00\x01")
    assert len(discover([str(bucket)])) == 5
    assert len(discover([str(bucket)], exclude=[str(bucket / "AWSLogs" / ORG)])) == 4


def test_case_inside_the_evidence_folder_is_not_evidence(bucket):
    case = bucket / "case"
    first = ifx.ingest([str(bucket)], case, jobs=1)
    again = ifx.ingest([str(bucket)], case, jobs=1)
    assert again.counts["files"] == first.counts["files"] == 5
    assert again.counts["read"] == 6 and again.counts["written"] == 0


# --- archives --------------------------------------------------------------------------------


def _no_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: Any, **k: Any) -> None:
        raise AssertionError("archives must be read as streams, never extracted")

    for cls, names in (
        (tarfile.TarFile, ("extract", "extractall")),
        (zipfile.ZipFile, ("extract", "extractall")),
    ):
        for name in names:
            monkeypatch.setattr(cls, name, refuse)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_zip(path: Path, bucket: Path, extra: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(bucket.rglob("*")):
            if f.is_file():
                zf.write(f, str(f.relative_to(bucket.parent)))
        for name, data in (extra or {}).items():
            zf.writestr(zipfile.ZipInfo(name), data)


def make_tar(path: Path, bucket: Path, mode: str, extra: dict[str, bytes] | None = None) -> None:
    with tarfile.open(path, mode) as tf:
        tf.add(bucket, arcname=bucket.name)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tgz-without-extension", "tar.bz2", "tar.xz"])
def test_archives_are_read_as_streams(bucket, tmp_path, monkeypatch, kind):
    _no_extraction(monkeypatch)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    name = {"tgz-without-extension": "logs"}.get(kind, f"logs.{kind}")
    archive = evidence / name
    if kind == "zip":
        make_zip(archive, bucket)
    else:
        make_tar(archive, bucket, {"tar": "w", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}.get(kind, "w:gz"))
    before = _tree(tmp_path)
    report = ifx.ingest([str(archive)], tmp_path / "case", jobs=1)
    c = report.counts
    assert (c["read"], c["written"], c["quarantined"]) == (6, 6, 0)
    assert len(report.digests) == 1
    assert all(s["source"].startswith(f"{archive}!bucket/AWSLogs/") for s in report.sources)
    # Nothing was written anywhere but the case folder.
    assert {p for p in _tree(tmp_path) - before if not p.startswith("case")} == set()
    assert _tree(tmp_path / "case") <= {"case.json", "events", "quarantine", "derived"} | {
        p for p in _tree(tmp_path / "case") if p.startswith("events/")
    }


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_unsafe_member_names_are_quarantined(bucket, tmp_path, monkeypatch, kind):
    _no_extraction(monkeypatch)
    evil = trail_file([record(9)])
    extra = {"../escape.json.gz": evil, "/etc/abs.json.gz": evil, "ok/../../up.json.gz": evil}
    archive = tmp_path / f"evil.{kind}"
    if kind == "zip":
        make_zip(archive, bucket, extra)
    else:
        make_tar(archive, bucket, "w", extra)
    report = ifx.ingest([str(archive)], tmp_path / "case", jobs=1)
    assert report.identity_holds
    assert report.counts["written"] == 6  # the safe members still ingest
    q = {e["source"].split("!", 1)[1]: e["reason"] for e in read_quarantine(tmp_path / "case")}
    assert q == dict.fromkeys(extra, "archive member name is absolute or contains '..': rejected")
    assert not (tmp_path / "escape.json.gz").exists() and not (tmp_path.parent / "up.json.gz").exists()


def test_decompression_bomb_is_capped(tmp_path):
    cap = 64 * 1024
    bomb = gzip.compress(b" " * (50 * cap))
    assert len(bomb) < cap // 4
    with pytest.raises(UnitError, match=f"exceeds the cap of {cap} bytes"):
        decompress("bomb.json.gz", bomb, max_bytes=cap)
    # Within the cap the same data decompresses.
    assert decompress("ok.gz", gzip.compress(b"{}"), max_bytes=cap) == (b"{}", "gzip")


@pytest.mark.parametrize("container", ["gz", "zip", "tar.gz"])
def test_bombs_in_every_container_are_quarantined(tmp_path, container):
    cap = 256 * 1024
    good = trail_file([record(1)])
    payload = b"[" + b" " * (20 * cap) + b"]"
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "good.json.gz").write_bytes(good)
    if container == "gz":
        (ev / "bomb.json.gz").write_bytes(gzip.compress(payload))
    elif container == "zip":
        with zipfile.ZipFile(ev / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("bomb.json", payload)
    else:
        with tarfile.open(ev / "bomb.tar.gz", "w:gz") as tf:
            info = tarfile.TarInfo("bomb.json")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=1, max_bytes=cap)
    assert report.identity_holds and report.counts["written"] == 1
    (q,) = read_quarantine(tmp_path / "case")
    assert "bomb" in q["source"] and f"cap of {cap} bytes" in q["reason"]


def test_multi_member_gzip_and_trailing_garbage():
    data = gzip.compress(b'{"Records": [') + gzip.compress(b"]}")
    assert decompress("m.gz", data) == (b'{"Records": []}', "gzip")
    assert decompress("t.gz", gzip.compress(b"[]") + b"\x00\x00junk") == (b"[]", "gzip")


def test_truncated_gzip_is_a_unit_error():
    data = gzip.compress(json.dumps({"Records": [record(i) for i in range(50)]}).encode())
    with pytest.raises(UnitError, match="truncated gzip stream"):
        decompress("t.json.gz", data[: len(data) // 2])


def test_open_units_reports_a_vanished_file_as_io(tmp_path):
    f = tmp_path / "a.json"
    f.write_text("[]")
    (ref,) = discover([str(f)])
    f.unlink()
    (unit,) = list(open_units(ref))
    assert isinstance(unit, UnitError) and unit.io and "FileNotFoundError" in unit.reason


def test_open_units_gives_sha256_of_stored_bytes(tmp_path):
    import hashlib

    data = trail_file([record(0)])
    f = tmp_path / "a.json.gz"
    f.write_bytes(data)
    (blob,) = list(open_units(discover([str(f)])[0]))
    assert isinstance(blob, Blob)
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert json.loads(blob.data)["Records"][0]["eventID"] == record(0)["eventID"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder; covered by the monkeypatched test")
def test_unlistable_folder_is_reported(tmp_path):  # pragma: no cover - only as non-root
    d = tmp_path / "ev" / "locked"
    d.mkdir(parents=True)
    (d / "a.json").write_text("[]")
    d.chmod(0)
    try:
        refs = discover([str(tmp_path / "ev")])
        assert [r.kind for r in refs] == ["unreadable"]
    finally:
        d.chmod(0o755)


def test_unlistable_folder_is_reported_monkeypatched(tmp_path, monkeypatch):
    ev = tmp_path / "ev"
    (ev / "locked").mkdir(parents=True)
    (ev / "ok.json").write_text(json.dumps([record(0)]))
    real_walk = os.walk

    def walk(top: str, onerror: Any = None, **kw: Any) -> Any:
        for dirpath, dirnames, filenames in real_walk(top, **kw):
            if "locked" in dirnames:
                dirnames.remove("locked")
                onerror(PermissionError(13, "Permission denied", os.path.join(dirpath, "locked")))
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(os, "walk", walk)
    refs = discover([str(ev)])
    assert sorted(r.kind for r in refs) == ["file", "unreadable"]
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=1)
    assert report.counts["unreadable"] == 1 and report.counts["written"] == 1
    (q,) = read_quarantine(tmp_path / "case")
    assert q["source"].endswith("locked") and q["reason"].startswith("cannot list folder: PermissionError")
