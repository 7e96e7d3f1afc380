"""Evidence integrity, offline: CloudTrail digest chains, log-file hashes, signatures, custody.

``aws cloudtrail validate-logs`` needs live AWS access; this checks the evidence as
collected (cloudtrail-reference.md §7):

- each digest's ``logFiles[].hashValue`` against SHA-256 of the *uncompressed* log file;
- the chain per trail and region: ``previousDigestHashValue`` against SHA-256 of the
  uncompressed previous digest, gaps (one or several digests missing in a row) and
  restarts (a digest without a previous link in the middle of a chain);
- files present that no digest covers, files listed but missing (deleted evidence);
- RSA signatures, when the region's public keys (saved ``aws cloudtrail list-public-keys``
  output) are supplied: each digest's signature is its successor's
  ``previousDigestSignature``; the newest digest's signature lives in S3 metadata, so it is
  read from a ``<digest>.signature`` sidecar (hex) when one was captured.
- chain of custody: evidence on disk still matches the sha256 the case manifest recorded.

Examples
--------
>>> result = verify(["evidence/"], public_keys="keys.json")  # doctest: +SKIP
>>> result.verdicts.groupby("verdict").size()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import EvidenceError
from .sources import Blob, UnitError, discover, open_units

_DIGEST_STAMP = re.compile(r"_(\d{8}T\d{6}Z)\.json(\.gz)?$")
_TRAIL = re.compile(r"CloudTrail-Digest_(?P<region>[^_]+)_(?P<trail>.+)_(?P<home>[^_]+)_\d{8}T\d{6}Z\.json")

VERDICTS = (
    "intact",  # log file hash matches its digest
    "modified",  # log file present, hash differs
    "missing",  # listed in a digest, not in the evidence (deleted?)
    "not-covered",  # log file present, no digest lists it
    "digest-ok",  # digest links to its predecessor with the right hash
    "digest-modified",  # successor's previousDigestHashValue does not match this digest
    "digest-missing",  # a digest the chain names (or the hourly cadence implies) is absent
    "chain-start",  # digest without a previous link (first digest or logging restarted)
    "signature-ok",
    "signature-bad",
    "signature-not-checked",
)


@dataclass
class _Digest:
    display: str
    key: str  # digestS3Object
    bucket: str
    doc: dict[str, Any]
    raw_sha: str  # sha256 of the uncompressed digest bytes
    end: dt.datetime
    chain: tuple[str, str, str]  # account, region, trail


@dataclass
class VerifyResult:
    """Verdicts (one row per file or chain link) and counts per verdict."""

    verdicts: pd.DataFrame
    signatures_checked: bool
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{n:>7}  {v}" for v, n in sorted(self.counts.items(), key=lambda kv: VERDICTS.index(kv[0]))]
        if not self.signatures_checked:
            lines.append("signatures were NOT checked (no --public-keys given)")
        return "\n".join(lines)

    @property
    def ok(self) -> bool:
        bad = {"modified", "missing", "digest-modified", "digest-missing", "signature-bad"}
        return not any(self.counts.get(b) for b in bad)


def _parse_time(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _is_digest(data: bytes) -> bool:
    head = data[:4096]
    return b'"digestS3Object"' in head or (b'"digestEndTime"' in head and b'"logFiles"' in head)


def _load_public_keys(path: str | Path) -> dict[str, Any]:
    """Fingerprint -> public key from saved ``aws cloudtrail list-public-keys`` output."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{path}: cannot read public keys: {exc}") from None
    out: dict[str, Any] = {}
    for item in doc.get("PublicKeyList", []):
        der = base64.b64decode(item["Value"])
        try:
            key = load_der_public_key(der)
        except ValueError:
            # UG23 says PKCS#1 RSAPublicKey while a sample is SPKI: accept both.
            key = _pkcs1_to_key(der)
        out[item["Fingerprint"]] = key
    return out


def _pkcs1_to_key(der: bytes) -> Any:
    """Parse a DER PKCS#1 RSAPublicKey (SEQUENCE of two INTEGERs)."""

    def read_len(b: bytes, i: int) -> tuple[int, int]:
        n = b[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(b[i + 1 : i + 1 + k], "big"), i + 1 + k

    if der[0] != 0x30:
        raise EvidenceError("public key is neither SPKI nor PKCS#1 DER")
    _, i = read_len(der, 1)
    ints = []
    for _ in range(2):
        if der[i] != 0x02:
            raise EvidenceError("malformed PKCS#1 public key")
        ln, i = read_len(der, i + 1)
        ints.append(int.from_bytes(der[i : i + ln], "big"))
        i += ln
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    return RSAPublicNumbers(ints[1], ints[0]).public_key()


def string_to_sign(doc: dict[str, Any], raw_sha_hex: str) -> bytes:
    """The exact string CloudTrail signs for a digest (cloudtrail-reference.md §7.2)."""
    prev = doc.get("previousDigestSignature")
    return (
        f"{doc['digestEndTime']}\n{doc['digestS3Bucket']}/{doc['digestS3Object']}\n"
        f"{raw_sha_hex}\n{prev if prev is not None else 'null'}"
    ).encode()


def _verify_sig(key: Any, signature_hex: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(bytes.fromhex(signature_hex), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _key_suffix_index(names: list[str]) -> dict[str, str]:
    """Map 'AWSLogs/...' key suffixes (and bare file names) to evidence display names."""
    idx: dict[str, str] = {}
    for name in names:
        path = name.split("!", 1)[-1].replace("\\", "/")
        pos = path.find("AWSLogs/")
        if pos >= 0:
            idx[path[pos:]] = name
        idx.setdefault(path.rsplit("/", 1)[-1], name)
    return idx


def _lookup(idx: dict[str, str], key: str) -> str | None:
    pos = key.find("AWSLogs/")
    if pos >= 0 and key[pos:] in idx:
        return idx[key[pos:]]
    return idx.get(key.rsplit("/", 1)[-1])


def verify(
    evidence: list[str] | str,
    *,
    public_keys: str | Path | None = None,
) -> VerifyResult:
    """Verify CloudTrail log files and digests found in the evidence (offline).

    Parameters
    ----------
    evidence : paths, folders, globs or archives holding logs and digests.
    public_keys : saved output of ``aws cloudtrail list-public-keys`` for the regions;
        without it the hash chain is still checked and signatures are reported unchecked.

    Examples
    --------
    >>> verify("evidence/").counts  # doctest: +SKIP
    {'intact': 120, 'digest-ok': 23, 'chain-start': 1, 'signature-not-checked': 24}
    """
    if isinstance(evidence, str | Path):
        evidence = [str(evidence)]
    keys = _load_public_keys(public_keys) if public_keys else None
    logs: dict[str, str] = {}  # display -> sha256 of uncompressed bytes
    digests: list[_Digest] = []
    rows: list[dict[str, Any]] = []
    sidecars: dict[str, str] = {}
    for ref in discover(list(evidence)):
        if ref.path.endswith(".signature"):
            sidecars[ref.path[: -len(".signature")]] = Path(ref.path).read_text().strip()
            continue
        for unit in open_units(ref):
            if isinstance(unit, UnitError):
                rows.append(_row("log", unit.display, "missing", f"unreadable: {unit.reason}"))
                continue
            _classify(unit, logs, digests, rows)
    log_idx = _key_suffix_index(list(logs))
    covered: set[str] = set()
    for d in digests:
        for lf in d.doc.get("logFiles") or []:
            key = lf.get("s3Object", "")
            hit = _lookup(log_idx, key)
            if hit is None:
                rows.append(_row("log", key, "missing", f"listed in {d.display}", digest=d.display))
                continue
            covered.add(hit)
            ok = logs[hit] == (lf.get("hashValue") or "").lower()
            rows.append(
                _row(
                    "log",
                    hit,
                    "intact" if ok else "modified",
                    "" if ok else f"sha256 {logs[hit]} != digest {lf.get('hashValue')}",
                    digest=d.display,
                )
            )
    for name in sorted(set(logs) - covered):
        rows.append(_row("log", name, "not-covered", "no digest in the evidence lists this file"))
    rows.extend(_check_chains(digests, keys, sidecars))
    df = pd.DataFrame(rows, columns=["kind", "file", "verdict", "detail", "digest", "chain"])
    counts = {str(k): int(v) for k, v in df["verdict"].value_counts().items()}
    return VerifyResult(df, keys is not None, counts)


def _row(
    kind: str,
    file: str,
    verdict: str,
    detail: str = "",
    *,
    digest: str | None = None,
    chain: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "file": file,
        "verdict": verdict,
        "detail": detail,
        "digest": digest,
        "chain": chain,
    }


def _classify(blob: Blob, logs: dict[str, str], digests: list[_Digest], rows: list[dict[str, Any]]) -> None:
    sha = hashlib.sha256(blob.data).hexdigest()
    if not _is_digest(blob.data):
        logs[blob.display] = sha
        return
    try:
        doc = json.loads(blob.data)
        end = _parse_time(doc["digestEndTime"])
        key = doc["digestS3Object"]
    except (ValueError, KeyError, TypeError) as exc:
        rows.append(_row("digest", blob.display, "digest-modified", f"unparseable digest: {exc}"))
        return
    m = _TRAIL.search(key.rsplit("/", 1)[-1])
    region, trail = (m["region"], m["trail"]) if m else ("?", "?")
    assert end is not None
    digests.append(
        _Digest(
            blob.display,
            key,
            doc.get("digestS3Bucket", ""),
            doc,
            sha,
            end,
            (str(doc.get("awsAccountId")), region, trail),
        )
    )


def _stamp_of(key: str) -> dt.datetime | None:
    m = _DIGEST_STAMP.search(key)
    if not m:
        return None
    return dt.datetime.strptime(m[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def _check_chains(
    digests: list[_Digest], keys: dict[str, Any] | None, sidecars: dict[str, str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    chains: dict[tuple[str, str, str], list[_Digest]] = {}
    for d in digests:
        chains.setdefault(d.chain, []).append(d)
    for chain_key, items in sorted(chains.items()):
        chain = "/".join(chain_key)
        items.sort(key=lambda d: d.end)
        by_key = {d.key: d for d in items}
        signature_of: dict[str, str] = {}
        for d in items:
            prev_key = d.doc.get("previousDigestS3Object")
            if not prev_key:
                rows.append(
                    _row(
                        "digest",
                        d.display,
                        "chain-start",
                        "no previous digest: first digest, or logging/validation restarted",
                        chain=chain,
                    )
                )
                continue
            prev = by_key.get(prev_key)
            if prev is None:
                detail = f"previous digest {prev_key} is absent"
                earlier = [x for x in items if x.end < d.end]
                stamp = _stamp_of(prev_key)
                if earlier and stamp is not None:
                    gap_hours = round((stamp - earlier[-1].end).total_seconds() / 3600)
                    if gap_hours > 1:
                        detail += f"; about {gap_hours - 1} more missing before it (hourly cadence)"
                rows.append(_row("digest", prev_key, "digest-missing", detail, digest=d.display, chain=chain))
                continue
            if d.doc.get("previousDigestSignature"):
                signature_of[prev.key] = d.doc["previousDigestSignature"]
            ok = (d.doc.get("previousDigestHashValue") or "").lower() == prev.raw_sha
            rows.append(
                _row(
                    "digest",
                    prev.display,
                    "digest-ok" if ok else "digest-modified",
                    "" if ok else f"sha256 {prev.raw_sha} != successor's previousDigestHashValue",
                    digest=d.display,
                    chain=chain,
                )
            )
        for d in items:
            sig = signature_of.get(d.key) or sidecars.get(d.display.split("!", 1)[-1])
            if keys is None:
                rows.append(
                    _row("digest", d.display, "signature-not-checked", "no public keys given", chain=chain)
                )
            elif sig is None:
                rows.append(
                    _row(
                        "digest",
                        d.display,
                        "signature-not-checked",
                        "newest digest: its signature is S3 metadata; no .signature sidecar",
                        chain=chain,
                    )
                )
            else:
                key = keys.get(d.doc.get("digestPublicKeyFingerprint", ""))
                if key is None:
                    rows.append(
                        _row(
                            "digest",
                            d.display,
                            "signature-bad",
                            "no public key with the digest's fingerprint",
                            chain=chain,
                        )
                    )
                    continue
                good = _verify_sig(key, sig, string_to_sign(d.doc, d.raw_sha))
                rows.append(
                    _row(
                        "digest",
                        d.display,
                        "signature-ok" if good else "signature-bad",
                        "" if good else "RSA signature does not verify",
                        chain=chain,
                    )
                )
    return rows


def _resolve(name: str, cwd: str | None) -> str:
    """Where a recorded source is now: absolute as recorded, else under the ingest's cwd."""
    if os.path.isabs(name) or not cwd:
        return name
    return os.path.join(cwd, name)


def _split_member(path: str) -> tuple[str, str] | None:
    """``archive.zip!member`` -> (archive, member) when the left part is a file and the whole is not."""
    if "!" not in path or os.path.exists(path):
        return None
    archive, member = path.split("!", 1)
    return (archive, member) if member else None


def _member_hashes(archive: str) -> dict[str, str]:
    """sha256 of every member of an archive, as ingest hashed them (the member's stored bytes)."""
    from .sources import _refs_for_file

    out: dict[str, str] = {}
    prefix = len(archive) + 1
    for ref in _refs_for_file(archive):
        for unit in open_units(ref):
            sha = unit.sha256
            if sha is not None:
                out[unit.display[prefix:]] = sha
    return out


def check_custody(case: str | Path) -> pd.DataFrame:
    """Does the evidence on disk still match the sha256 the case recorded at ingest?

    Relative source paths are resolved against the directory the ingest ran in (recorded in
    the manifest), so the check gives the same answer from any working directory. Members of
    zip and tar archives are re-read from the archive and hashed as ingest hashed them.

    Returns one row per recorded local source file: path, recorded and current sha256,
    verdict (unchanged, changed, missing).

    Examples
    --------
    >>> check_custody("out/case")  # doctest: +SKIP
    """
    from .sources import sha256_file
    from .store import load_manifest, require_case

    root = require_case(case)
    manifest = load_manifest(root)
    rows = []
    seen: set[str] = set()
    archives: dict[str, dict[str, str] | None] = {}
    for run in manifest.get("runs", []):
        cwd = run.get("cwd")
        for src in run.get("sources", []):
            name = src.get("source", "")
            if name in seen or "://" in name:
                continue
            seen.add(name)
            recorded = src.get("sha256")
            path = _resolve(name, cwd)
            current: str | None = None
            split = _split_member(path)
            if split is not None:
                archive, member = split
                if archive not in archives:
                    archives[archive] = _member_hashes(archive) if os.path.isfile(archive) else None
                hashes = archives[archive]
                current = None if hashes is None else hashes.get(member)
            elif os.path.exists(path):
                current = sha256_file(path)
            if current is None:
                verdict = "missing"
            else:
                verdict = "unchanged" if current == recorded else "changed"
            rows.append({"file": name, "recorded": recorded, "current": current, "verdict": verdict})
    return pd.DataFrame(rows, columns=["file", "recorded", "current", "verdict"])


def record_in_manifest(case: str | Path, result: VerifyResult | None, custody: pd.DataFrame | None) -> None:
    """Append a verification entry (counts and problems) to the case manifest."""
    from .store import load_manifest, now, save_manifest

    m = load_manifest(case)
    entry: dict[str, Any] = {"at": now()}
    if result is not None:
        problems = result.verdicts[
            ~result.verdicts["verdict"].isin(
                ["intact", "digest-ok", "signature-ok", "signature-not-checked", "chain-start"]
            )
        ]
        entry.update(
            counts=result.counts,
            signatures_checked=result.signatures_checked,
            problems=problems.to_dict("records"),
        )
    if custody is not None:
        entry["custody"] = {k: int(v) for k, v in custody["verdict"].value_counts().items()}
        entry["custody_problems"] = custody[custody["verdict"].isin(["changed", "missing"])].to_dict(
            "records"
        )
    m.setdefault("verifications", []).append(entry)
    save_manifest(case, m)


def register_cli(sub: Any) -> None:
    s = sub.add_parser("verify", help="check digests, log-file hashes, signatures and chain of custody")
    s.add_argument("evidence", nargs="*", help="evidence with CloudTrail-Digest files")
    s.add_argument("--public-keys", default=None, help="saved 'aws cloudtrail list-public-keys' output")
    s.add_argument("--case", default=None, help="also check the case's evidence against its manifest")
    s.set_defaults(func=_cli)


def _cli(args: Any) -> int:
    if not args.evidence and not args.case:
        raise EvidenceError("give evidence to verify, --case, or both")
    result = verify(args.evidence, public_keys=args.public_keys) if args.evidence else None
    custody = check_custody(args.case) if args.case else None
    if result is not None:
        print(result.summary())
        problems = result.verdicts[
            ~result.verdicts["verdict"].isin(["intact", "digest-ok", "signature-ok", "chain-start"])
        ]
        for r in problems.itertuples():
            print(f"  {r.verdict:<22} {r.file}  {r.detail}")
    if custody is not None:
        for v, n in custody["verdict"].value_counts().items():
            print(f"custody {n:>7}  {v}")
        for r in custody[custody["verdict"].isin(["changed", "missing"])].itertuples():
            print(f"  {r.verdict:<10} {r.file}")
    if args.case:
        record_in_manifest(args.case, result, custody)
    bad = (result is not None and not result.ok) or (
        custody is not None and custody["verdict"].isin(["changed", "missing"]).any()
    )
    return 1 if bad else 0
