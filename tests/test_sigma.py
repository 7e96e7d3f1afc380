"""Sigma rules over a case: conversion of the shared CloudTrail rules, semantics, and the report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from iamforensics.detections import load_sigma, run_sigma
from iamforensics.detections.sigma import sigma_field

from .conftest import SHARED_SIGMA, shared_path
from .detections_helpers import make_case, make_case_from, rec, role_identity

SIGMA_DIR = SHARED_SIGMA

#: Shared Sigma rules that do not convert, with the reason (none: all 57 convert).
EXPECTED_NOT_CONVERTED: dict[str, str] = {}


def sigma_dir() -> Path:
    if not SIGMA_DIR.is_dir():
        pytest.skip(f"shared Sigma rules not present: {SIGMA_DIR}")
    return SIGMA_DIR


def test_all_shared_sigma_rules_convert() -> None:
    queries = load_sigma(sigma_dir())
    assert len(queries) == 57
    failed = {q.file: q.reason for q in queries if not q.converted}
    assert failed == EXPECTED_NOT_CONVERTED
    for q in queries:
        assert q.sql and "?" in q.sql and q.level in ("informational", "low", "medium", "high", "critical")
        # values never appear in the SQL text, only as parameters
        assert "amazonaws.com" not in q.sql
    by_file = {q.file: q for q in queries}
    # the rule that compares userIdentity.arn to the *text* "responseElements.accessKey.userName" is flagged
    assert "literal text" in " ".join(by_file["aws_iam_backdoor_users_keys.yml"].notes)
    assert (
        by_file["aws_cloudtrail_disable_logging.yml"].tactic == ""
        or by_file["aws_cloudtrail_disable_logging.yml"].technique
    )


def test_field_mapping() -> None:
    assert sigma_field("eventName") == "event_name"
    assert sigma_field("userIdentity.arn") == "user_arn"
    assert sigma_field("userIdentity.sessionContext.sessionIssuer.type") == "session_issuer_type"
    assert sigma_field("additionalEventData.MFAUsed") == "additional_event_data.MFAUsed"
    assert (
        sigma_field("requestParameters.containerDefinitions.command")
        == "request_parameters.containerDefinitions.command"
    )
    assert sigma_field("responseElements") == "response_elements"
    assert sigma_field("not.a.cloudtrail.field") is None


@pytest.fixture(scope="module")
def real_case(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    stratus = shared_path("stratus-red-team-detonation-logs", "raw")
    panther = shared_path("panther-analysis-cloudtrail-tests", "derived", "scenario_events.jsonl")
    return make_case_from(tmp_path_factory.mktemp("sigma-real"), [stratus, panther])


def test_shared_rules_on_real_evidence(real_case) -> None:  # type: ignore[no-untyped-def]
    report, table = run_sigma(real_case, sigma_dir())
    df = table.to_pandas()
    assert report["converted"].all() and report["matches"].notna().all()
    assert int(report["matches"].sum()) == len(df)
    matched = dict(zip(report["file"], report["matches"], strict=True))
    ev = real_case.sql("SELECT event_id, event_name, user_type, source FROM events").set_index("event_id")

    def names(rule_file: str) -> set[str]:
        ids = [
            i
            for ids in df.loc[df["rule"] == "sigma:" + rule_file.removesuffix(".yml"), "event_ids"]
            for i in ids
        ]
        return set(ev.loc[ids, "event_name"])

    # StopLogging (stratus and Panther) and DeleteTrail (stratus)
    assert names("aws_cloudtrail_disable_logging.yml") == {"StopLogging", "DeleteTrail"}
    # MFAUsed "No" matches the rule's 'NO': Sigma strings are case-insensitive
    assert matched["aws_cloudtrail_console_login_success_without_mfa.yml"] >= 2
    assert names("aws_snapshot_backup_exfiltration.yml") == {"ModifySnapshotAttribute"}
    root = df[df["rule"] == "sigma:aws_root_account_usage"]
    assert len(root) > 0 and all(ev.loc[ids[0], "user_type"] == "Root" for ids in root["event_ids"])
    # fieldref: the backdoor role's login profile is changed for another user
    assert matched["aws_update_login_profile.yml"] == 1
    assert matched["aws_new_lambda_layer_attached.yml"] == 1
    assert (df["source"] == "sigma").all()
    assert df["technique"].str.match(r"^(T\d{4}(\.\d{3})?(, )?)*$").all()


RULES = {
    "ci_equals.yml": """
        detection:
          sel: {eventName: 'createuser', eventSource: iam.amazonaws.com}
          condition: sel
    """,
    "cased.yml": """
        detection:
          sel: {eventName|cased: 'createuser'}
          condition: sel
    """,
    "wildcards.yml": """
        detection:
          sel:
            eventName|startswith: 'Create'
            userAgent|contains: 'BOTO3'
            requestParameters.userName|endswith: '_stone'
          condition: sel
    """,
    "regex_null.yml": """
        detection:
          sel: {userIdentity.arn|re: ':user/tr[a-z]+_stone$'}
          nokey: {errorCode: null}
          condition: sel and nokey
    """,
    "status_fieldref.yml": """
        detection:
          sel: {eventName: UpdateLoginProfile, status: success}
          self: {userIdentity.userName|fieldref: requestParameters.userName}
          condition: sel and not self
    """,
    "keyword_exists.yml": """
        detection:
          keywords: ['sneaky-marker']
          sel: {additionalEventData.MFAUsed|exists: true}
          condition: keywords and not sel
    """,
    "list_path.yml": """
        detection:
          sel: {'requestParameters.ipPermissions.items[*].ipRanges.items[*].cidrIp': '0.0.0.0/0'}
          condition: sel
    """,
    "injection.yml": """
        detection:
          sel: {eventName: "x' OR 1=1 --"}
          condition: sel
    """,
    "unknown_field.yml": """
        detection:
          sel: {Image: 'evil.exe'}
          condition: sel
    """,
}


def _write_rules(folder: Path) -> None:
    folder.mkdir()
    for name, body in RULES.items():
        head = f"title: {name}\nid: 00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}\nstatus: test\n"
        head += "logsource: {product: aws, service: cloudtrail}\nlevel: high\ntags: [attack.persistence, attack.t1136.003]\n"
        (folder / name).write_text(head + textwrap.dedent(body))
    (folder / "windows.yml").write_text(
        "title: win\nlogsource: {product: windows, category: process_creation}\n"
        "detection: {sel: {Image: x}, condition: sel}\n"
    )
    (folder / "badyaml.yml").write_text("title: x\ndetection: {sel: {a[*]: 1}}\n")
    (folder / "broken.yml").write_text(
        "title: broken\nlogsource: {product: aws}\ndetection: {condition: nope}\n"
    )


def test_sigma_semantics_on_hand_built_events(tmp_path: Path) -> None:
    iam = "iam.amazonaws.com"
    records = [
        rec(
            "CreateUser",
            iam,
            key="s1",
            user="admin",
            rp={"userName": "tracy_stone"},
            userAgent="Boto3/1.34 Python",
        ),
        rec("CreateUser", iam, key="s2", user="tracy_stone", rp={"userName": "bob"}, error="AccessDenied"),
        rec("UpdateLoginProfile", iam, key="s3", user="admin", rp={"userName": "bob"}),
        rec("UpdateLoginProfile", iam, key="s4", user="bob", rp={"userName": "bob"}),
        rec(
            "UpdateLoginProfile", iam, key="s5", user="admin", rp={"userName": "carol"}, error="NoSuchEntity"
        ),
        rec("ListUsers", iam, key="s6", userAgent="sneaky-marker/1.0"),
        rec(
            "ConsoleLogin",
            "signin.amazonaws.com",
            key="s7",
            userAgent="sneaky-marker/1.0",
            aed={"MFAUsed": "No"},
        ),
        rec(
            "AuthorizeSecurityGroupIngress",
            "ec2.amazonaws.com",
            key="s8",
            identity=role_identity("r", "s"),
            rp={
                "groupId": "sg",
                "ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
            },
        ),
    ]
    case = make_case(tmp_path, records)
    folder = tmp_path / "rules"
    _write_rules(folder)
    report, table = run_sigma(case, folder)
    rep = report.set_index("file")
    df = table.to_pandas()
    ev = case.sql("SELECT event_id, event_name, user_name, request_parameters FROM events").set_index(
        "event_id"
    )

    def users(rule: str) -> list[str]:
        ids = [i for ids in df.loc[df["rule"] == f"sigma:{rule}", "event_ids"] for i in ids]
        return sorted(f"{ev.loc[i, 'event_name']}:{ev.loc[i, 'user_name']}" for i in ids)

    assert users("ci_equals") == ["CreateUser:admin", "CreateUser:tracy_stone"]
    assert users("cased") == []
    assert users("wildcards") == ["CreateUser:admin"]
    assert users("regex_null") == []  # the only tr*_stone event has an errorCode
    assert users("status_fieldref") == ["UpdateLoginProfile:admin"]  # s4 is self, s5 failed
    assert users("keyword_exists") == ["ListUsers:alice"]
    assert [u.split(":")[0] for u in users("list_path")] == ["AuthorizeSecurityGroupIngress"]
    assert users("injection") == [] and rep.loc["injection.yml", "converted"]
    assert not rep.loc["unknown_field.yml", "converted"] and "Image" in rep.loc["unknown_field.yml", "reason"]
    assert not rep.loc["windows.yml", "converted"] and "windows" in rep.loc["windows.yml", "reason"]
    assert not rep.loc["broken.yml", "converted"] and rep.loc["broken.yml", "reason"]
    assert rep.loc["badyaml.yml", "reason"].startswith("unreadable")
    assert pd.isna(rep.loc["windows.yml", "matches"]) and rep.loc["ci_equals.yml", "matches"] == 2
    assert set(df["severity"]) == {"high"}
    assert set(df["tactic"]) == {"TA0003 Persistence"} and set(df["technique"]) == {"T1136.003"}
