"""MFA analyses on real evidence: stratus console login without MFA, real sign-in shapes from
the AWS docs and Panther's tests (root, IAM user, Identity Center, SAML), and the scenario key."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from iamforensics.analysis import mfa
from iamforensics.errors import QueryError
from iamforensics.normalize import normalize_records
from tests.analysis_helpers import samples_answers, samples_case, stratus_case, stratus_records
from tests.conftest import shared_path


def _frame(records: list[dict]) -> pd.DataFrame:
    table, rejects = normalize_records(records)
    assert not rejects
    return table.to_pandas()


def _ids(records: list[dict], frame: pd.DataFrame) -> list[str]:
    """The stored event id of each record (placeholder ids like "1111111111" get a suffix)."""
    return frame.sort_values("source_index")["event_id"].tolist()


def _extracted(dataset: str, name: str, event_names: tuple[str, ...]) -> list[dict]:
    """Records of one event name from a dataset's derived JSONL extraction (real published records)."""
    out: dict[str, dict] = {}
    for line in shared_path(dataset, "derived", name).read_text().splitlines():
        rec = json.loads(line).get("event")
        if (
            isinstance(rec, dict)
            and rec.get("eventName") in event_names
            and isinstance(rec.get("eventID"), str)
        ):
            out.setdefault(json.dumps(rec, sort_keys=True), rec)  # two doc pages repeat one example
    return list(out.values())


def test_stratus_console_login_without_mfa():
    (raw,) = stratus_records("console-login-without-mfa")
    s = mfa.sign_ins(stratus_case())
    assert len(s) == 1
    row = s.iloc[0]
    assert row["event_id"] == raw["eventID"]
    assert row["actor"] == raw["userIdentity"]["arn"]
    assert (row["principal_type"], row["result"], row["mfa_status"]) == ("iam-user", "Success", "no mfa")
    assert raw["additionalEventData"]["MFAUsed"] == "No" and not row["mfa_used"]
    assert row["source_ip_address"] == raw["sourceIPAddress"]  # an invalid literal, kept as written
    out = mfa.sign_in_outcomes(stratus_case())
    assert out.to_dict("records") == [
        {"principal_type": "iam-user", "result": "Success", "mfa_status": "no mfa", "sign_ins": 1}
    ]


def test_aws_docs_sign_in_shapes_root_yes_and_failures():
    records = _extracted(
        "awsdocs-cloudtrail-user-guide-examples", "doc_example_events.jsonl", ("ConsoleLogin",)
    )
    assert len(records) >= 5
    for rec in records:  # one at a time: two different doc examples share an eventID
        (row,) = mfa.sign_ins(_frame([rec])).to_dict("records")
        typ = rec["userIdentity"]["type"]
        assert row["principal_type"] == {"Root": "root", "IAMUser": "iam-user"}[typ]
        assert row["result"] == rec["responseElements"]["ConsoleLogin"]
        used = rec["additionalEventData"]["MFAUsed"].lower() == "yes"  # "YES" in the root example
        assert row["mfa_status"] == ("mfa" if used else "no mfa")
        assert (row["mfa_device"] if isinstance(row["mfa_device"], str) else None) == rec[
            "additionalEventData"
        ].get("MFAIdentifier")


def test_identity_center_and_saml_sign_ins_are_mfa_at_the_idp():
    records = _extracted("panther-analysis-cloudtrail-tests", "rule_test_events.jsonl", ("ConsoleLogin",))
    federated = [r for r in records if r["userIdentity"].get("type") == "AssumedRole"]
    assert len(federated) >= 3
    frame = _frame(records)
    ids = dict(zip(map(id, records), _ids(records, frame), strict=True))
    s = mfa.sign_ins(frame).set_index("event_id")
    for rec in federated:
        row = s.loc[ids[id(rec)]]
        assert row["mfa_status"] == "mfa at IdP", rec["userIdentity"].get("arn")
        issuer = ((rec["userIdentity"].get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn", "")
        arn = rec["userIdentity"].get("arn") or ""
        idc = "aws-reserved/sso.amazonaws.com" in issuer or "AWSReservedSSO_" in arn
        assert row["principal_type"] == ("identity-center" if idc else "federated")
    # The same MFAUsed "No" on an IAM user is a login without MFA.
    iam_no = [r for r in records if r["userIdentity"].get("type") == "IAMUser"
              and (r.get("additionalEventData") or {}).get("MFAUsed") == "No"]  # fmt: skip
    assert iam_no and (s.loc[[ids[id(r)] for r in iam_no], "mfa_status"] == "no mfa").all()


def test_scenario_sign_ins_match_the_answer_key():
    answers = samples_answers()["sign_ins"]
    s = mfa.sign_ins(samples_case())
    logins = s[s["event_name"] == "ConsoleLogin"]
    assert len(logins) == answers["total"]
    ok = logins[logins["result"] == "Success"]
    assert len(ok) == answers["successful"]
    assert (ok["mfa_status"] == "mfa").sum() == answers["with_mfa"]
    assert set(ok.loc[ok["mfa_status"] == "no mfa", "event_id"]) == {
        e["event_id"] for e in answers["without_mfa"]
    }
    assert set(logins.loc[logins["result"] == "Failure", "event_id"]) == {
        e["event_id"] for e in answers["failed"]
    }


def test_root_activity_shows_the_root_sign_in_without_mfa():
    key = samples_answers()["mfa"]
    root = mfa.root_activity(samples_case()).set_index("event_id")
    assert root.loc[key["root_sign_in_without_mfa"]["event_id"], "mfa"] == "no mfa"
    assert root.loc[key["root_sign_in_with_mfa"]["event_id"], "mfa"] == "mfa"
    # The calls of the root session inherit its sign-in's status.
    after = root[root.index != key["root_sign_in_without_mfa"]["event_id"]]
    attacker = after[after["source_ip_address"] == "193.32.162.80"]
    assert len(attacker) and set(attacker["mfa"]) <= {"no mfa"}
    assert set(root["event_source"]) >= {"signin.amazonaws.com", "iam.amazonaws.com"}


def test_mfa_device_lifecycle_who_did_what_to_whom():
    key = samples_answers()
    changes = mfa.mfa_device_changes(samples_case())
    row = changes.set_index("event_id").loc[key["mfa"]["deactivated"]["event_id"]]
    assert row["event_name"] == "DeactivateMFADevice"
    assert row["actor"] == key["leaked_key"]["owner_arn"]
    assert row["target_user"] == key["leaked_key"]["owner_name"] and row["self_service"]
    assert row["serial_number"].endswith(":mfa/" + key["leaked_key"]["owner_name"])
    records = _extracted(
        "awsdocs-cloudtrail-user-guide-examples", "doc_example_events.jsonl", ("EnableMFADevice",)
    )
    (doc,) = mfa.mfa_device_changes(_frame(records)).to_dict("records")
    assert doc["target_user"] == "AWS ROOT USER" and doc["self_service"]  # root enabling its own device
    assert doc["serial_number"] == records[0]["requestParameters"]["serialNumber"]


def test_sensitive_actions_without_mfa_in_the_scenario():
    key = samples_answers()
    case = samples_case()
    acts = mfa.actions_without_mfa(case)
    ids = set(acts["event_id"])
    assert key["logging"]["stop_logging"]["event_id"] in ids
    assert key["logging"]["put_event_selectors"]["event_id"] in ids
    assert key["mfa"]["deactivated"]["event_id"] in ids
    assert (acts["mfa_status"] == "no mfa").all()
    assert set(acts["category"]) <= {"iam-write", "sts", "trail", "mfa-device"}
    # alice's GetSessionToken presents an MFA code: not "without MFA".
    sts = case.events(event_names="GetSessionToken", columns=["event_id", "request_parameters"])
    with_code = sts[sts["request_parameters"].fillna("").str.contains("serialNumber")]
    assert len(with_code) and not (set(with_code["event_id"]) & ids)
    sessions = mfa.sessions_without_mfa(case)
    leaked = key["leaked_key"]["access_key_id"]
    assert sessions.iloc[0]["access_key_id"] == leaked
    chained = {s["access_key_id"] for s in key["sessions"]}
    assert chained & set(sessions["access_key_id"])
    with pytest.raises(QueryError):
        mfa.actions_without_mfa(case, categories=["no-such-category"])


def test_mfa_coverage_puts_the_unprotected_first():
    key = samples_answers()
    cov = mfa.mfa_coverage(samples_case())
    assert cov.iloc[0]["sensitive_no_mfa"] == cov["sensitive_no_mfa"].max() > 0
    owner = cov.set_index("actor").loc[key["leaked_key"]["owner_arn"]]
    assert owner["sensitive_no_mfa"] > 0 and 0 <= owner["coverage"] < 1
    assert (cov["coverage"].between(0, 1)).all()
    assert (cov["events"] == cov["mfa"] + cov["no_mfa"] + cov["mfa_at_idp"] + cov["other"]).all()


def test_virtual_device_create_delete_and_resync():
    """The device name comes from the serial ARN (create: response, delete: request); resync and
    a real Panther CreateVirtualMFADevice whose parameters were redacted to null."""

    def rec(name: str, t: str, req: dict | None, resp: dict | None = None, user: str = "alice") -> dict:
        return {
            "eventVersion": "1.08",
            "eventTime": t,
            "eventID": f"7e57a000-0000-4000-8000-{len(name) * 1000 + int(t[14:16]):012d}",
            "eventSource": "iam.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9",
            "userAgent": "aws-cli/2.15.0",
            "userIdentity": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::111122223333:user/{user}",
                "accountId": "111122223333",
                "userName": user,
            },  # fmt: skip
            "requestParameters": req,
            "responseElements": resp,
        }

    serial = "arn:aws:iam::111122223333:mfa/bob-phone"
    records = [
        rec("CreateVirtualMFADevice", "2024-05-06T10:00:00Z", {"virtualMFADeviceName": "bob-phone", "path": "/"},
            {"virtualMFADevice": {"serialNumber": serial}}),
        rec("ResyncMFADevice", "2024-05-06T10:05:00Z",
            {"userName": "bob", "serialNumber": serial, "authenticationCode1": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        rec("DeleteVirtualMFADevice", "2024-05-06T10:10:00Z", {"serialNumber": serial}, user="bob-phone"),
    ]  # fmt: skip
    records += _extracted(
        "panther-analysis-cloudtrail-tests", "rule_test_events.jsonl", ("CreateVirtualMFADevice",)
    )
    rows = mfa.mfa_device_changes(_frame(records)).set_index("event_name")
    assert rows.loc["CreateVirtualMFADevice"].shape[0] == 2
    ours = rows.loc["CreateVirtualMFADevice"].dropna(subset=["serial_number"]).iloc[0]
    assert (ours["target_user"], ours["serial_number"], ours["self_service"]) == ("bob-phone", serial, False)
    panther = rows.loc["CreateVirtualMFADevice"][rows.loc["CreateVirtualMFADevice"]["serial_number"].isna()]
    assert len(panther) == 1 and pd.isna(panther.iloc[0]["target_user"])  # nothing to read, nothing guessed
    resync = rows.loc["ResyncMFADevice"]
    assert (resync["target_user"], resync["serial_number"], resync["self_service"]) == ("bob", serial, False)
    delete = rows.loc["DeleteVirtualMFADevice"]
    assert (delete["target_user"], delete["self_service"]) == ("bob-phone", True)
