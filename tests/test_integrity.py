"""Digest validation on a small trail built and signed inside the tests."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import iamforensics as ifx
from iamforensics.cli import main
from iamforensics.integrity import check_custody, string_to_sign, verify

ACCT = "012345678901"
REGION = "us-east-1"
TRAIL = "org-trail"
BUCKET = "ct-logs"
START = dt.datetime(2024, 5, 6, 0, 0, tzinfo=dt.UTC)
HOURS = 6


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key, msg: bytes) -> str:
    return key.sign(msg, padding.PKCS1v15(), hashes.SHA256()).hex()


def _record(i: int, t: dt.datetime) -> dict:
    return {
        "eventVersion": "1.08",
        "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventID": f"00000000-0000-4000-8000-{i:012d}",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/alice", "accountId": ACCT},
    }


def build_trail(root: Path, key, *, fingerprint: str = "fp-1") -> dict[str, Path]:
    """Write HOURS hours of logs (2 files an hour) and a signed digest per hour."""
    paths: dict[str, Path] = {}
    prev: dict | None = None
    prev_sha = prev_sig = None
    n = 0
    for h in range(HOURS):
        end = START + dt.timedelta(hours=h + 1)
        day = end.strftime("%Y/%m/%d")
        log_files = []
        for j in range(2):
            t = START + dt.timedelta(hours=h, minutes=10 * j)
            body = json.dumps({"Records": [_record(n + k, t) for k in range(3)]}).encode()
            n += 3
            name = f"{ACCT}_CloudTrail_{REGION}_{t:%Y%m%dT%H%M}Z_h{h}f{j}abcdefghijk.json.gz"
            rel = f"AWSLogs/{ACCT}/CloudTrail/{REGION}/{day}/{name}"
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(gzip.compress(body))
            paths[f"log{h}.{j}"] = p
            log_files.append(
                {
                    "s3Bucket": BUCKET,
                    "s3Object": rel,
                    "hashValue": hashlib.sha256(body).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                }
            )
        dname = f"{ACCT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{end:%Y%m%dT%H%M%S}Z.json.gz"
        drel = f"AWSLogs/{ACCT}/CloudTrail-Digest/{REGION}/{day}/{dname}"
        doc = {
            "awsAccountId": ACCT,
            "digestStartTime": (end - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "digestEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "digestS3Bucket": BUCKET,
            "digestS3Object": drel,
            "digestPublicKeyFingerprint": fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": BUCKET if prev else None,
            "previousDigestS3Object": prev["digestS3Object"] if prev else None,
            "previousDigestHashValue": prev_sha,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev_sig,
            "logFiles": log_files,
        }
        raw = json.dumps(doc).encode()
        sha = hashlib.sha256(raw).hexdigest()
        sig = _sign(key, string_to_sign(doc, sha))
        p = root / drel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(raw))
        paths[f"digest{h}"] = p
        prev, prev_sha, prev_sig = doc, sha, sig
    # The newest digest's signature is S3 metadata: saved as a sidecar.
    Path(str(paths[f"digest{HOURS - 1}"]) + ".signature").write_text(prev_sig or "")
    return paths


def keys_file(tmp: Path, key, fingerprint: str = "fp-1") -> Path:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    p = tmp / "public-keys.json"
    p.write_text(
        json.dumps(
            {
                "PublicKeyList": [
                    {
                        "Value": base64.b64encode(der).decode(),
                        "Fingerprint": fingerprint,
                        "ValidityStartTime": "2024-01-01T00:00:00Z",
                    }
                ]
            }
        )
    )
    return p


@pytest.fixture
def trail(tmp_path, key):
    ev = tmp_path / "evidence"
    return ev, build_trail(ev, key), keys_file(tmp_path, key)


def test_intact_chain(trail):
    ev, paths, keys = trail
    r = verify([str(ev)], public_keys=keys)
    assert r.ok and r.signatures_checked
    assert r.counts == {"intact": 2 * HOURS, "digest-ok": HOURS - 1, "chain-start": 1, "signature-ok": HOURS}


def test_without_keys_hash_chain_still_checked(trail):
    ev, _, _ = trail
    r = verify([str(ev)])
    assert not r.signatures_checked and r.ok
    assert r.counts["signature-not-checked"] == HOURS and r.counts["digest-ok"] == HOURS - 1
    assert "NOT checked" in r.summary()


def test_deleted_log_file(trail):
    ev, paths, keys = trail
    paths["log2.1"].unlink()
    r = verify([str(ev)], public_keys=keys)
    missing = r.verdicts[r.verdicts.verdict == "missing"]
    assert len(missing) == 1 and missing.file.iloc[0].endswith(paths["log2.1"].name)
    assert r.counts["intact"] == 2 * HOURS - 1 and not r.ok


def test_modified_log_file(trail):
    ev, paths, keys = trail
    p = paths["log3.0"]
    body = json.loads(gzip.decompress(p.read_bytes()))
    body["Records"][0]["sourceIPAddress"] = "203.0.113.66"  # an attacker edits one record
    p.write_bytes(gzip.compress(json.dumps(body).encode()))
    r = verify([str(ev)], public_keys=keys)
    mod = r.verdicts[r.verdicts.verdict == "modified"]
    assert list(mod.file) == [str(p)]
    assert r.counts["intact"] == 2 * HOURS - 1


def test_recompressed_log_is_still_intact(trail):
    # The hash is over the uncompressed bytes: a re-gzip with another level changes nothing.
    ev, paths, keys = trail
    p = paths["log1.0"]
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes()), compresslevel=1))
    assert verify([str(ev)], public_keys=keys).counts["intact"] == 2 * HOURS


def test_one_deleted_digest(trail):
    ev, paths, keys = trail
    paths["digest2"].unlink()
    r = verify([str(ev)], public_keys=keys)
    gap = r.verdicts[r.verdicts.verdict == "digest-missing"]
    assert len(gap) == 1 and gap.file.iloc[0].endswith(paths["digest2"].name)
    assert "more missing" not in gap.detail.iloc[0]
    # Its two log files are now covered by no digest.
    assert r.counts["not-covered"] == 2 and not r.ok


def test_two_consecutive_deleted_digests(trail):
    ev, paths, keys = trail
    paths["digest2"].unlink()
    paths["digest3"].unlink()
    r = verify([str(ev)], public_keys=keys)
    gap = r.verdicts[r.verdicts.verdict == "digest-missing"]
    assert len(gap) == 1 and gap.file.iloc[0].endswith(paths["digest3"].name)
    assert "about 1 more missing" in gap.detail.iloc[0]
    assert r.counts["not-covered"] == 4


def test_forged_digest_bad_signature(tmp_path, trail):
    ev, paths, keys = trail
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    newest = paths[f"digest{HOURS - 1}"]
    doc = json.loads(gzip.decompress(newest.read_bytes()))
    doc["logFiles"] = doc["logFiles"][:1]  # hide a log file, then re-sign with the wrong key
    raw = json.dumps(doc).encode()
    newest.write_bytes(gzip.compress(raw))
    Path(str(newest) + ".signature").write_text(
        _sign(other, string_to_sign(doc, hashlib.sha256(raw).hexdigest()))
    )
    r = verify([str(ev)], public_keys=keys)
    bad = r.verdicts[r.verdicts.verdict == "signature-bad"]
    assert list(bad.file) == [str(newest)]
    assert r.counts["not-covered"] == 1 and not r.ok


def test_modified_middle_digest_breaks_hash_link(trail):
    ev, paths, keys = trail
    p = paths["digest1"]
    doc = json.loads(gzip.decompress(p.read_bytes()))
    doc["logFiles"] = []
    p.write_bytes(gzip.compress(json.dumps(doc).encode()))
    r = verify([str(ev)], public_keys=keys)
    assert list(r.verdicts[r.verdicts.verdict == "digest-modified"].file) == [str(p)]
    assert list(r.verdicts[r.verdicts.verdict == "signature-bad"].file) == [str(p)]


def test_digest_without_previous_link(tmp_path, key):
    ev = tmp_path / "ev"
    paths = build_trail(ev, key)
    p = paths["digest3"]
    doc = json.loads(gzip.decompress(p.read_bytes()))
    for k in (
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
    ):
        doc[k] = None
    p.write_bytes(gzip.compress(json.dumps(doc).encode()))
    r = verify([str(ev)], public_keys=keys_file(tmp_path, key))
    starts = r.verdicts[r.verdicts.verdict == "chain-start"]
    assert sorted(Path(f).name for f in starts.file) == sorted([paths["digest0"].name, p.name])


def test_log_file_with_no_digest(trail):
    ev, paths, keys = trail
    extra = paths["log0.0"].parent / f"{ACCT}_CloudTrail_{REGION}_20240506T0930Z_zzzzzzzzzzzzzzzz.json.gz"
    extra.write_bytes(gzip.compress(json.dumps({"Records": [_record(999, START)]}).encode()))
    r = verify([str(ev)], public_keys=keys)
    assert list(r.verdicts[r.verdicts.verdict == "not-covered"].file) == [str(extra)]


def test_cli_verify_and_custody(tmp_path, trail, capsys):
    ev, paths, keys = trail
    case = tmp_path / "case"
    report = ifx.ingest([str(ev)], case, jobs=1)
    assert len(report.digests) == HOURS and report.counts["written"] == 2 * HOURS * 3
    assert main(["verify", str(ev), "--public-keys", str(keys), "--case", str(case)]) == 0
    out = capsys.readouterr().out
    assert "signature-ok" in out and "custody" in out
    paths["log4.1"].write_bytes(gzip.compress(b'{"Records": []}'))
    custody = check_custody(case)
    assert custody.set_index("file").loc[str(paths["log4.1"]), "verdict"] == "changed"
    assert main(["verify", "--case", str(case)]) == 1
    m = ifx.open_case(case).manifest
    assert len(m["verifications"]) == 2 and m["verifications"][1]["custody"]["changed"] == 1


def _write_logs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"{ACCT}_CloudTrail_{REGION}_20240506T0{i}00Z_custody{i}.json.gz"
        p.write_bytes(gzip.compress(json.dumps({"Records": [_record(500 + i, START)]}).encode()))
        out.append(p)
    return out


def test_custody_resolves_relative_sources_from_any_directory(tmp_path, monkeypatch):
    work = tmp_path / "work"
    _write_logs(work / "evidence", 2)
    monkeypatch.chdir(work)
    ifx.ingest(["evidence"], "case", jobs=1)
    # Run the check from elsewhere: relative paths recorded at ingest still resolve.
    monkeypatch.chdir(tmp_path)
    custody = check_custody(work / "case")
    assert len(custody) == 2 and set(custody.verdict) == {"unchanged"}
    (work / "evidence" / sorted(p.name for p in (work / "evidence").iterdir())[0]).unlink()
    assert sorted(check_custody(work / "case").verdict) == ["missing", "unchanged"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_custody_rehashes_archive_members(tmp_path, kind):
    import tarfile
    import zipfile

    logs = _write_logs(tmp_path / "logs", 3)
    archive = tmp_path / f"evidence.{kind}"

    def pack(files: list[Path], replace: bytes | None = None) -> None:
        if kind == "zip":
            with zipfile.ZipFile(archive, "w") as zf:
                for i, f in enumerate(files):
                    zf.writestr(f.name, replace if (replace and i == 0) else f.read_bytes())
        else:
            with tarfile.open(archive, "w:gz") as tf:
                for i, f in enumerate(files):
                    if replace and i == 0:
                        f.write_bytes(replace)
                    tf.add(f, arcname=f.name)

    pack(logs)
    case = tmp_path / "case"
    ifx.ingest([str(archive)], case, jobs=1)
    custody = check_custody(case)
    assert len(custody) == 3 and set(custody.verdict) == {"unchanged"}
    assert all("!" in f for f in custody.file)
    # One member altered, one removed: the archive is re-read and each member re-hashed.
    pack(logs[:2], replace=gzip.compress(b'{"Records": []}'))
    verdicts = check_custody(case).set_index("file").verdict
    assert sorted(verdicts) == ["changed", "missing", "unchanged"]
    assert verdicts[f"{archive}!{logs[2].name}"] == "missing"
    archive.unlink()
    assert set(check_custody(case).verdict) == {"missing"}
