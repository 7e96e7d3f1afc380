"""The privilege-change ledger (PCI DSS 10.2.5) and admin activity, on real evidence.

- Stratus Red Team detonations (persistence / privilege escalation through IAM), ingested into a case.
- Panther's root-compromise scenario (hand-written but in CloudTrail's own shape); every record there
  reuses eventID "1", so it is normalized into a DataFrame rather than deduplicated by a case.
- TrailDiscover: real refused IAM calls (no request parameters, the subject only in the error message).
- The sample scenario, checked against its answer key.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from iamforensics.case import open_case
from iamforensics.errors import QueryError
from iamforensics.iam import LEDGER_EVENTS, admin_activity, load_authorization_details, privilege_ledger
from iamforensics.ingest import ingest
from iamforensics.normalize import normalize_records
from tests.conftest import shared_path
from tests.iam_fixtures import sample_case

STRATUS = (
    "aws.persistence.iam-create-admin-user.json",
    "aws.persistence.iam-backdoor-user.json",
    "aws.persistence.iam-backdoor-role.json",
    "aws.persistence.iam-create-backdoor-role.json",
    "aws.persistence.iam-create-user-login-profile.json",
    "aws.privilege-escalation.iam-update-user-login-profile.json",
)


def _records(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stratus(tmp_path_factory):
    files = [shared_path("stratus-red-team-detonation-logs", "raw", f) for f in STRATUS]
    case_dir = tmp_path_factory.mktemp("stratus") / "case"
    ingest([str(f) for f in files], case_dir, jobs=1)
    raw = {f.name: _records(f) for f in files}
    return open_case(case_dir), raw


def _one(ledger, event_name, **where):
    rows = ledger[ledger["event_name"] == event_name]
    for k, v in where.items():
        rows = rows[rows[k] == v]
    assert len(rows) == 1, (event_name, where, ledger[["event_name", "subject"]])
    return rows.iloc[0]


def test_stratus_create_admin_user(stratus):
    case, raw = stratus
    led = privilege_ledger(case)
    recs = {r["eventName"]: r for r in raw["aws.persistence.iam-create-admin-user.json"]}
    actor = recs["CreateUser"]["userIdentity"]["arn"]
    new_user = recs["CreateUser"]["requestParameters"]["userName"]
    created = _one(led, "CreateUser", subject=new_user)
    assert created["subject_arn"] == recs["CreateUser"]["responseElements"]["user"]["arn"]
    assert created["actor"] == actor and created["outcome"] == "succeeded"
    attach = _one(led, "AttachUserPolicy", subject=new_user)
    assert attach["granted"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert attach["admin_level"] == "full" and attach["effect"] == "grant" and not attach["self_grant"]
    # the subject ARN comes from the CreateUser response in the same ledger
    assert attach["subject_arn"] == created["subject_arn"]
    key = _one(led, "CreateAccessKey", subject=new_user)
    assert recs["CreateAccessKey"]["responseElements"]["accessKey"]["accessKeyId"] in key["granted"]
    assert key["event_id"] == recs["CreateAccessKey"]["eventID"]


def test_stratus_backdoor_user_and_login_profiles(stratus):
    case, raw = stratus
    led = privilege_ledger(case)
    rec = raw["aws.persistence.iam-backdoor-user.json"][0]
    row = _one(led, "CreateAccessKey", event_id=rec["eventID"])
    assert row["subject"] == rec["requestParameters"]["userName"] and row["category"] == "credential"
    recs = {r["eventName"]: r for r in raw["aws.persistence.iam-create-user-login-profile.json"]}
    made = _one(led, "CreateLoginProfile", event_id=recs["CreateLoginProfile"]["eventID"])
    assert made["outcome"] == "succeeded" and made["granted"] == "console password (reset required: False)"
    refused = _one(led, "DeleteLoginProfile", event_id=recs["DeleteLoginProfile"]["eventID"])
    assert refused["outcome"] == "failed" and refused["error_code"] == recs["DeleteLoginProfile"]["errorCode"]
    assert "GetCallerIdentity" not in set(led["event_name"])  # reads are not privilege changes
    upd = raw["aws.privilege-escalation.iam-update-user-login-profile.json"][0]
    row = _one(led, "UpdateLoginProfile", event_id=upd["eventID"])
    assert row["subject"] == upd["requestParameters"]["userName"] and row["effect"] == "modify"


def test_stratus_backdoor_roles_show_the_outside_account(stratus):
    case, raw = stratus
    led = privilege_ledger(case)
    upd = raw["aws.persistence.iam-backdoor-role.json"][0]
    row = _one(led, "UpdateAssumeRolePolicy", event_id=upd["eventID"])
    trusted = json.loads(upd["requestParameters"]["policyDocument"])["Statement"]
    expected = [f"{k}:{v}" for s in trusted for k, v in s["Principal"].items()]
    assert row["trusted_principals"] == expected
    outside = {v.split(":")[4] for s in trusted for k, v in s["Principal"].items() if k == "AWS"}
    assert row["outside_accounts"] == sorted(outside) and row["account_id"] not in outside
    recs = {r["eventName"]: r for r in raw["aws.persistence.iam-create-backdoor-role.json"]}
    made = _one(led, "CreateRole", event_id=recs["CreateRole"]["eventID"])
    assert made["subject_arn"] == recs["CreateRole"]["responseElements"]["role"]["arn"]
    assert made["outside_accounts"] and made["outside_accounts"][0] in made["granted"]
    assert recs["CreateRole"]["requestParameters"]["permissionsBoundary"] in made["granted"]
    attach = _one(led, "AttachRolePolicy", event_id=recs["AttachRolePolicy"]["eventID"])
    assert attach["admin_level"] == "full" and attach["subject_arn"] == made["subject_arn"]


def test_case_and_dataframe_give_the_same_ledger(stratus):
    case, _ = stratus
    from_case = privilege_ledger(case).drop(columns=["origin"])
    from_frame = privilege_ledger(case.events()).drop(columns=["origin"])
    pd.testing.assert_frame_equal(from_case.astype(str), from_frame.astype(str))
    assert from_case["event_time"].is_monotonic_increasing


def test_time_window_and_event_filter(stratus):
    case, _ = stratus
    led = privilege_ledger(case)
    first_day = led["event_time"].min().normalize()
    window = privilege_ledger(case, start=first_day, end=first_day + pd.Timedelta(days=1))
    assert len(window) == (led["event_time"] < first_day + pd.Timedelta(days=1)).sum()
    only = privilege_ledger(case, event_names=["CreateAccessKey"])
    assert (
        set(only["event_name"]) == {"CreateAccessKey"}
        and len(only) == (led["event_name"] == "CreateAccessKey").sum()
    )
    with pytest.raises(QueryError):
        privilege_ledger(case, event_names=["GetCallerIdentity"])


def test_panther_root_compromise_scenario():
    path = shared_path("panther-analysis-cloudtrail-tests", "derived", "scenario_events.jsonl")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [
        w["event"]
        for w in lines
        if w["_source_file"].endswith("compromised-root-creds/attacker_cloudtrail.yml")
    ]
    table, rejects = normalize_records(records)
    assert not rejects
    led = privilege_ledger(table.to_pandas())
    root = next(r for r in records if r["userIdentity"]["type"] == "Root")
    account = root["recipientAccountId"]
    # CreateAccessKey by root without a userName: the root user gave itself an access key
    key = _one(led, "CreateAccessKey", subject_type="root")
    assert key["subject_arn"] == f"arn:aws:iam::{account}:root" and key["self_grant"]
    assert key["actor"] == root["userIdentity"]["arn"] and key["subject_admin"] == "full"
    new_user = next(r for r in records if r["eventName"] == "CreateUser")["requestParameters"]["userName"]
    attached = led[(led["event_name"] == "AttachUserPolicy") & (led["subject"] == new_user)]
    expected = sorted(
        r["requestParameters"]["policyArn"] for r in records if r["eventName"] == "AttachUserPolicy"
    )
    assert sorted(attached["granted"]) == expected
    levels = dict(zip(attached["granted"], attached["admin_level"], strict=True))
    assert levels["arn:aws:iam::aws:policy/IAMFullAccess"] == "iam"
    assert levels["arn:aws:iam::aws:policy/AmazonS3FullAccess"] == "unknown"  # no snapshot, no guess
    assert list(led["event_time"]) == sorted(led["event_time"])  # file order is not time order
    assert set(led["actor"]) == {root["userIdentity"]["arn"]}
    assert len(led) == sum(r["eventName"] in LEDGER_EVENTS for r in records)


def test_traildiscover_refused_calls_name_their_subject_from_the_error():
    folder = shared_path("traildiscover-log-examples", "raw", "docs", "logExamples")
    records = []
    for f in sorted(folder.glob("IAM-*.json.cloudtrail")):
        value = json.loads(f.read_text(encoding="utf-8"))
        records += value if isinstance(value, list) else [value]
    records = [r for r in records if r.get("eventName") in LEDGER_EVENTS]
    table, rejects = normalize_records(records)
    assert not rejects
    led = privilege_ledger(table.to_pandas())
    assert len(led) == len(records) >= 25
    refused = led[led["error_code"].notna()]
    assert (refused["outcome"] == "denied").all() and len(refused) >= 25
    for r in refused.itertuples():
        # "... on resource: user TrailDiscover because ...": the name after the type is the subject
        assert r.subject and r.subject in r.error_message, (r.event_name, r.error_message)
    by_name = led.set_index("event_name")
    assert by_name.loc["CreateRole", "subject_type"] == "role"
    assert by_name.loc["CreateRole", "subject_arn"].endswith(":role/TrailDiscover")
    assert by_name.loc["CreatePolicyVersion", "subject_type"] == "policy"
    assert by_name.loc["AttachUserPolicy", "self_grant"]  # the caller tried to grant itself
    ok = led[led["error_code"].isna()]
    assert set(ok["event_name"]) == {"UpdateSAMLProvider"} and (ok["category"] == "federation").all()
    assert (
        ok.iloc[0]["subject_arn"].startswith("arn:aws:iam::")
        and ":saml-provider/" in ok.iloc[0]["subject_arn"]
    )


# --- the sample scenario, against its answer key -------------------------------------------------


def test_sample_scenario_ledger_matches_the_answer_key():
    case_dir, answers = sample_case()
    led = privilege_ledger(open_case(case_dir))
    by_id = led.set_index("event_id")
    leaked = answers["leaked_key"]
    esc = [
        e for e in answers["techniques"]["privilege_escalation"]["events"] if e["event_name"] in LEDGER_EVENTS
    ]
    assert esc, "the scenario escalates through IAM"
    for e in esc:
        row = by_id.loc[e["event_id"]]
        assert row["admin_level"] == "full" and row["outcome"] == "succeeded"
        assert row["subject"] == leaked["owner_name"] and row["self_grant"]
        assert row["actor"] == leaked["owner_arn"] and row["actor_key"] == leaked["access_key_id"]
    creds = {c["created_by"]["event_id"]: c for c in answers["attacker_credentials"] if c.get("created_by")}
    for e in answers["techniques"]["additional_credentials"]["events"]:
        row, cred = by_id.loc[e["event_id"]], creds[e["event_id"]]
        assert row["subject_arn"] == cred["principal_arn"] and row["category"] == "credential"
        if cred["access_key_id"]:
            assert cred["access_key_id"] in row["granted"]
    backdoor = [by_id.loc[e["event_id"]] for e in answers["techniques"]["backdoor_role"]["events"]]
    made = next(r for r in backdoor if r["event_name"] == "CreateRole")
    assert made["outside_accounts"] == [answers["accounts"]["attacker"]["id"]]
    assert any(r["admin_level"] == "full" for r in backdoor if r["event_name"] == "AttachRolePolicy")
    mfa = by_id.loc[answers["mfa"]["deactivated"]["event_id"]]
    assert mfa["category"] == "mfa" and mfa["effect"] == "revoke"
    billing = answers["benign_findings"]["self_billing_policy"]
    row = by_id.loc[billing["event_id"]]
    assert row["self_grant"] and row["subject_arn"] == billing["user"]
    # completeness: every IAM change of the week is either in the story or in the benign findings
    expected = {e["event_id"] for e in esc}
    expected |= {e["event_id"] for e in answers["techniques"]["additional_credentials"]["events"]}
    expected |= {e["event_id"] for e in answers["techniques"]["backdoor_role"]["events"]}
    expected |= {answers["mfa"]["deactivated"]["event_id"], billing["event_id"]}
    expected |= {
        e["event_id"]
        for e in answers["benign_findings"]["iam_admin_work"]
        if e["event_name"] in LEDGER_EVENTS
    }
    assert set(led["event_id"]) == expected
    # reads done during the same admin session are not in the ledger
    reads = {
        e["event_id"]
        for e in answers["benign_findings"]["iam_admin_work"]
        if e["event_name"] not in LEDGER_EVENTS
    }
    assert reads and not reads & set(led["event_id"])


def test_sample_scenario_admin_activity():
    case_dir, answers = sample_case()
    case = open_case(case_dir)
    leaked = answers["leaked_key"]
    act = admin_activity(case, [leaked["owner_arn"], f"arn:aws:iam::{leaked['account']}:root"])
    dave = act[act["principal_arn"] == leaked["owner_arn"]]
    assert "AttachUserPolicy" in set(dave["event_name"]) and "CreateRole" in set(dave["event_name"])
    assert not dave["event_name"].str.match(r"^(Get|List|Describe)").any()  # writes only
    attack_ips = {ip["ip"] for ip in answers["attacker_ips"]}
    attach = dave[dave["event_name"] == "AttachUserPolicy"].iloc[0]
    assert set(attach["source_ips"]) <= attack_ips
    esc = [
        e
        for e in answers["techniques"]["privilege_escalation"]["events"]
        if e["event_name"] == "AttachUserPolicy"
    ]
    assert attach["first_seen"] == pd.Timestamp(esc[0]["time"])
    # the same question from a snapshot: a details file naming dave as admin gives the same rows
    account = leaked["account"]
    details = load_authorization_details(
        {
            "UserDetailList": [
                {"UserName": leaked["owner_name"], "Arn": leaked["owner_arn"], "AttachedManagedPolicies": [
                    {"PolicyName": "AdministratorAccess", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}]}
            ],
            "Policies": [{"PolicyName": "AdministratorAccess", "Arn": "arn:aws:iam::aws:policy/AdministratorAccess",
                          "DefaultVersionId": "v1", "PolicyVersionList": [
                              {"VersionId": "v1", "IsDefaultVersion": True,
                               "Document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}],
        }
    )  # fmt: skip
    via_details = admin_activity(case, details)
    assert set(via_details["principal_arn"]) <= {leaked["owner_arn"], f"arn:aws:iam::{account}:root"}
    pd.testing.assert_frame_equal(
        via_details[via_details["principal_arn"] == leaked["owner_arn"]]
        .drop(columns=["level"])
        .reset_index(drop=True),
        dave.drop(columns=["level"]).reset_index(drop=True),
    )
    assert set(via_details[via_details["principal_arn"] == leaked["owner_arn"]]["level"]) == {"full"}


def test_ledger_with_a_snapshot_says_who_was_admin():
    case_dir, answers = sample_case()
    leaked = answers["leaked_key"]
    details = load_authorization_details(
        {
            "UserDetailList": [
                {"UserName": leaked["owner_name"], "Arn": leaked["owner_arn"], "AttachedManagedPolicies": [
                    {"PolicyName": "AdministratorAccess", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}]}
            ]
        }
    )  # fmt: skip
    led = privilege_ledger(open_case(case_dir), details=details)
    mine = led[led["subject_arn"] == leaked["owner_arn"]]
    assert len(mine) and (mine["subject_admin"] == "full").all()  # the built-in AdministratorAccess document
    others = led[(led["subject_arn"] != leaked["owner_arn"]) & led["subject_type"].isin(["user", "role"])]
    assert len(others) and (others["subject_admin"] == "unknown").all()  # not in the snapshot: not guessed


def test_a_role_session_granting_its_own_role_is_a_self_grant():
    # The stratus AttachRolePolicy record, replayed as if made by a session of that very role.
    rec = next(
        r
        for r in _records(shared_path("stratus-red-team-detonation-logs", "raw", STRATUS[3]))
        if r["eventName"] == "AttachRolePolicy"
    )
    role = rec["requestParameters"]["roleName"]
    acct = rec["recipientAccountId"]
    rec = {
        **rec,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEEXAMPLE01:sess",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/sess",
            "accountId": acct,
            "accessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{acct}:role/{role}", "userName": role,
                                  "accountId": acct, "principalId": "AROAEXAMPLEEXAMPLE01"},
                "attributes": {"creationDate": rec["eventTime"], "mfaAuthenticated": "false"},
            },
        },
    }  # fmt: skip
    table, _ = normalize_records([rec])
    row = privilege_ledger(table.to_pandas()).iloc[0]
    assert row["self_grant"] and row["subject_arn"] == f"arn:aws:iam::{acct}:role/{role}"
    assert row["admin_level"] == "full"


def test_sample_scenario_ledger_names_the_identity_behind_each_change():
    case_dir, answers = sample_case()
    by_id = privilege_ledger(open_case(case_dir)).set_index("event_id")
    leaked = answers["leaked_key"]
    # the escalation was made with the leaked long-term key: its owner is the origin
    for e in answers["techniques"]["privilege_escalation"]["events"]:
        if e["event_name"] in LEDGER_EVENTS:
            assert by_id.loc[e["event_id"], "origin"] == leaked["owner_arn"]
    # the admin's changes come through her console session: the session resolves to her
    admin = [e for e in answers["benign_findings"]["iam_admin_work"] if e["event_name"] in LEDGER_EVENTS]
    assert admin
    for e in admin:
        row = by_id.loc[e["event_id"]]
        assert row["origin"] == row["actor"] and ":user/" in row["origin"]
    assert by_id["origin"].notna().all()


def test_an_assumed_role_change_names_the_user_behind_the_session(tmp_path):
    from tests.detections_helpers import make_case, rec, role_identity

    role_arn = "arn:aws:iam::111122223333:role/ops"
    alice = {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/alice",
        "userName": "alice",
        "principalId": "AIDAALICEEXAMPLE0001",
        "accountId": "111122223333",
        "accessKeyId": "AKIAALICEEXAMPLE0001",
    }
    issue = rec(
        "AssumeRole",
        "sts.amazonaws.com",
        key="l1",
        identity=alice,
        rp={"roleArn": role_arn, "roleSessionName": "ops-session", "durationSeconds": 3600},
        resp={
            "credentials": {"accessKeyId": "ASIAOPSSESSIONXX", "expiration": "May 1, 2024, 11:00:00 AM"},
            "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/ops/ops-session"},
        },
    )
    identity = role_identity("ops", "ops-session")
    identity["accessKeyId"] = "ASIAOPSSESSIONXX"
    change = rec(
        "AttachUserPolicy",
        "iam.amazonaws.com",
        key="l2",
        minutes=5,
        identity=identity,
        rp={"userName": "mallory", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    case = make_case(tmp_path, [issue, change])
    row = privilege_ledger(case).set_index("event_id").loc[change["eventID"]]
    assert row["actor"].startswith("arn:aws:sts::111122223333:assumed-role/ops/")
    assert row["origin"] == "arn:aws:iam::111122223333:user/alice"
    assert privilege_ledger(case, origins=False)["origin"].isna().all()
