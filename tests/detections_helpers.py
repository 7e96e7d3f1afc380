"""Hand-built CloudTrail records and tmp cases for the detection tests."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from iamforensics.case import Case, open_case
from iamforensics.ingest import ingest

BASE = dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=dt.UTC)
ACCOUNT = "111122223333"
OTHER = "999988887777"


def eid(*parts: object) -> str:
    """A deterministic UUID event id (the store keeps UUID ids as they are)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def rec(
    name: str,
    source: str,
    *,
    key: str,
    user: str = "alice",
    utype: str = "IAMUser",
    account: str = ACCOUNT,
    ip: str = "81.2.69.160",
    minutes: float = 0,
    rp: Any = None,
    resp: Any = None,
    aed: Any = None,
    error: str | None = None,
    identity: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """One CloudTrail record; ``key`` makes its eventID unique and stable."""
    if identity is None:
        if utype == "Root":
            identity = {
                "type": "Root",
                "arn": f"arn:aws:iam::{account}:root",
                "principalId": account,
                "accountId": account,
                "accessKeyId": "ASIAROOTEXAMPLE00001",
            }
        else:
            identity = {
                "type": utype,
                "arn": f"arn:aws:iam::{account}:user/{user}",
                "userName": user,
                "principalId": "AIDA" + user.upper()[:12],
                "accountId": account,
                "accessKeyId": "AKIA" + user.upper()[:12],
            }
    r: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": (BASE + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventID": eid(key),
        "eventName": name,
        "eventSource": source,
        "eventType": top.pop("eventType", "AwsApiCall"),
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.0 Python/3.11",
        "userIdentity": identity,
        "requestParameters": rp,
        "responseElements": resp,
        "recipientAccountId": account,
    }
    if aed is not None:
        r["additionalEventData"] = aed
    if error:
        r["errorCode"] = error
        r["errorMessage"] = "denied"
    r.update(top)
    return r


def role_identity(role: str, session: str, account: str = ACCOUNT, **ctx: Any) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "principalId": f"AROAEXAMPLE{role.upper()[:8]}:{session}",
        "accountId": account,
        "accessKeyId": "ASIA" + session.upper()[:12].ljust(12, "X"),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "userName": role,
                "accountId": account,
                "principalId": f"AROAEXAMPLE{role.upper()[:8]}",
            },
            "attributes": {"creationDate": "2024-05-01T09:00:00Z", "mfaAuthenticated": "false"},
            **ctx,
        },
    }


def make_case(tmp: Path, records: list[dict[str, Any]], name: str = "case") -> Case:
    """Ingest records (one JSON array file) into a fresh case under ``tmp``."""
    src = tmp / f"{name}-evidence.json"
    src.write_text(json.dumps(records), encoding="utf-8")
    report = ingest([str(src)], tmp / name, jobs=1)
    assert report.counts["quarantined"] == 0, report.summary()
    return open_case(tmp / name)


def make_case_from(tmp: Path, paths: list[Path], name: str = "case") -> Case:
    ingest([str(p) for p in paths], tmp / name, jobs=1)
    return open_case(tmp / name)
