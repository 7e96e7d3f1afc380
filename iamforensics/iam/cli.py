"""``iamforensics iam``: add IAM snapshots to a case and write the IAM analyses as CSV.

The inputs are copied into ``CASE/iam/`` under names made from their sha256 (never from
their content), listed in ``case.json`` under ``iam_inputs`` (kind, original path, stored
name, size, sha256, when added) and checked against that hash each time they are read. Every
run recomputes the analyses from all the inputs the case holds, so the command with only
``--case`` refreshes them after a new ingest.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CaseError, EvidenceError
from ..store import load_manifest, now, require_case, save_manifest

IAM_DIR = "iam"
KINDS = ("credential-report", "authorization-details")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def add_inputs(case_dir: str | Path, kind: str, files: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Copy IAM inputs into ``CASE/iam/`` and record them (with sha256) in the manifest.

    Adding the same bytes twice records them once. Returns the manifest entries of ``files``.

    Examples
    --------
    >>> add_inputs("out/case", "credential-report", ["evidence/credential-report.csv"])  # doctest: +SKIP
    """
    if kind not in KINDS:
        raise EvidenceError(f"unknown IAM input kind {kind!r} (one of {', '.join(KINDS)})")
    root = require_case(case_dir)
    (root / IAM_DIR).mkdir(exist_ok=True)
    manifest = load_manifest(root)
    entries: list[dict[str, Any]] = manifest.setdefault("iam_inputs", [])
    added = []
    for f in files:
        src = Path(f)
        if not src.is_file():
            raise EvidenceError(f"{src}: no such file")
        digest = _sha256(src)
        suffix = src.suffix.lower() if src.suffix.lower() in (".csv", ".json", ".txt", ".b64") else ""
        stored = f"{IAM_DIR}/{kind}-{digest[:16]}{suffix}"
        entry = next((e for e in entries if e["sha256"] == digest and e["kind"] == kind), None)
        if entry is None:
            shutil.copyfile(src, root / stored)
            entry = {
                "kind": kind,
                "path": str(src),
                "stored": stored,
                "size": src.stat().st_size,
                "sha256": digest,
                "added": now(),
            }
            entries.append(entry)
        added.append(entry)
    save_manifest(root, manifest)
    return added


def stored_inputs(case_dir: str | Path, kind: str) -> list[Path]:
    """The case's stored inputs of one kind, each checked against its recorded sha256."""
    root = require_case(case_dir)
    out = []
    for e in load_manifest(root).get("iam_inputs", []):
        if e.get("kind") != kind:
            continue
        p = root / e["stored"]
        if not p.is_file():
            raise CaseError(f"{p}: recorded in the manifest but missing")
        if _sha256(p) != e["sha256"]:
            raise CaseError(f"{p}: sha256 differs from the manifest (changed after it was added)")
        out.append(p)
    return out


def run(
    case_dir: str | Path,
    *,
    credential_reports: Sequence[str | Path] = (),
    authorization_details: Sequence[str | Path] = (),
    as_of: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Add inputs, compute every IAM analysis the case's inputs allow, write them as CSV.

    Returns the frames by name (the CSV files are ``CASE/iam/<name>.csv``, cells neutralized).
    """
    from ..case import open_case
    from ..report.export import write_csv
    from . import (
        admin_activity,
        admin_principals,
        audit,
        credential_report,
        effective_permissions,
        load_authorization_details,
        principals,
        privilege_ledger,
        privileged_principals,
        role_trust,
    )

    require_case(case_dir)
    # Read the new inputs before recording them: a file that is not what it claims to be must
    # not enter the case (every later run would fail on it).
    if credential_reports:
        credential_report(list(credential_reports))
    if authorization_details:
        load_authorization_details(list(authorization_details))
    if credential_reports:
        add_inputs(case_dir, "credential-report", list(credential_reports))
    if authorization_details:
        add_inputs(case_dir, "authorization-details", list(authorization_details))
    case = open_case(case_dir)
    frames: dict[str, pd.DataFrame] = {}
    details = None
    ad_files = stored_inputs(case_dir, "authorization-details")
    if ad_files:
        details = load_authorization_details(ad_files)
        frames["principals"] = principals(details)
        frames["effective_permissions"] = effective_permissions(details)
        frames["role_trust"] = role_trust(details)
        frames["privileged_principals"] = privileged_principals(details)
        frames["admin_principals"] = admin_principals(details)
        frames["admin_activity"] = admin_activity(case, details)
    cr_files = stored_inputs(case_dir, "credential-report")
    if cr_files:
        cr = credential_report(cr_files)
        frames["credential_report"] = cr
        if as_of is None and cr["generated_time"].isna().all():
            as_of = pd.Timestamp.now(tz="UTC").normalize().isoformat()
        frames["audit"] = audit(cr, details, as_of=as_of, case=case)
    frames["privilege_ledger"] = privilege_ledger(case, details=details)
    for name, df in frames.items():
        write_csv(df, case.path / IAM_DIR / f"{name}.csv")
    return frames


def register_cli(sub: Any) -> None:
    s = sub.add_parser(
        "iam",
        help="add IAM snapshots (credential report, authorization details) and write the IAM analyses",
        description="Copies the inputs into CASE/iam/ (sha256 in case.json) and writes CASE/iam/*.csv: "
        "the privilege-change ledger from CloudTrail always; with a credential report the typed "
        "report and the best-practice audit; with authorization details the effective permissions, "
        "role trust, admin-equivalent principals, escalation primitives and admin activity.",
    )
    s.add_argument("--case", required=True, metavar="DIR", help="an ingested case folder")
    s.add_argument(
        "--credential-report", nargs="+", default=[], metavar="FILE", help="credential report CSV or CLI JSON"
    )
    s.add_argument(
        "--authorization-details",
        nargs="+",
        default=[],
        metavar="FILE",
        help="get-account-authorization-details JSON (pages, accounts)",
    )
    s.add_argument(
        "--as-of",
        default=None,
        metavar="DATE",
        help="audit date (default: the report's GeneratedTime, else today)",
    )
    s.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    frames = run(
        args.case,
        credential_reports=args.credential_report,
        authorization_details=args.authorization_details,
        as_of=args.as_of,
    )
    folder = Path(args.case) / IAM_DIR
    for name, df in frames.items():
        print(f"{len(df):>7}  {folder / (name + '.csv')}")
    if "admin_principals" in frames:
        ap = frames["admin_principals"]
        print(
            f"admin-equivalent principals: {int((ap['principal_kind'] != 'root').sum())} (+ root of each account)"
        )
    if "audit" in frames:
        a = frames["audit"]
        print(
            f"audit: {int((a['status'] == 'fail').sum())} failed checks, {int((a['status'] == 'warn').sum())} warnings"
        )
    led = frames["privilege_ledger"]
    if len(led):
        counts = ", ".join(f"{k} {v}" for k, v in led["outcome"].value_counts().items())
        print(f"privilege ledger: {len(led)} changes ({counts})")
    return 0
