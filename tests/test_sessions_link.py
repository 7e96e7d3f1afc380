"""Session linking details: Identity Center pairing, parent loops, MFA carried down a chain,
and stolen instance credentials seen from a network the instance never used."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

import iamforensics as ifx
from iamforensics.analysis import sessions as st
from iamforensics.analysis.sessions.build import IDC_WINDOW_S, pair_identity_center, records
from iamforensics.analysis.sessions.link import Link, walk
from tests.sessions_helpers import EVIL_IP, A, assume_role, ingest_records, rec, role_arn, role_session, user

T0 = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def grc(sid: str, seconds_before: float, who: str, role: str = "AdministratorAccess") -> dict[str, Any]:
    return {
        "session_id": sid,
        "account_id": "333333333333",
        "p_principal": None,
        "issued_at": T0 - dt.timedelta(seconds=seconds_before),
        "idc_role_name": role,
        "issuer_actor": who,
        "issuing_event_ids": [f"evt-{sid}"],
    }


def saml(sid: str, seconds_after: float = 0) -> dict[str, Any]:
    return {
        "session_id": sid,
        "account_id": "333333333333",
        "p_principal": "role/AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        "issued_at": T0 + dt.timedelta(seconds=seconds_after),
        "idc_role_name": None,
        "issuer_actor": "samluser:x",
        "issuing_event_ids": [f"evt-{sid}"],
    }


def test_identity_center_pairs_nearest_call_of_one_user():
    pairs = pair_identity_center([grc("g1", 30, "dan"), grc("g2", 2, "dan")], [saml("s1")])
    assert [(p["saml"], p["grc"], p["origin"]) for p in pairs] == [("s1", "g2", "dan")]


def test_identity_center_two_users_in_the_window_is_ambiguous():
    pairs = pair_identity_center([grc("g1", 5, "dan"), grc("g2", 2, "eve")], [saml("s1")])
    assert pairs == [
        {"saml": "s1", "grc": None, "grc_event_ids": [], "origin": None, "ambiguous": ["dan", "eve"]}
    ]


def test_identity_center_window_role_and_single_use():
    calls = [grc("late", IDC_WINDOW_S + 1, "dan"), grc("other", 1, "dan", role="ReadOnly")]
    assert pair_identity_center(calls, [saml("s1")]) == []  # too early, another permission set
    # one GetRoleCredentials vends one set of credentials: the second SAML session gets none
    pairs = pair_identity_center([grc("g1", 1, "dan")], [saml("s1"), saml("s2", 1)])
    assert [(p["saml"], p["grc"]) for p in pairs] == [("s1", "g1")]


def test_walk_stops_on_a_loop_and_counts_depth_from_seeds():
    seeds = {"root": ("arn:aws:iam::111111111111:user/a", "iam-user", "AKIA1", 1, ["111111111111"])}
    nodes = {
        "c1": Link("exact-key", "root"),
        "c2": Link("fallback", "c1"),
        "x": Link("exact-key", "y"),
        "y": Link("exact-key", "x"),
    }
    accounts = {"c1": "111111111111", "c2": "222222222222", "x": "1", "y": "1"}
    out = walk(nodes, accounts, seeds)
    assert out["c2"] == (
        "arn:aws:iam::111111111111:user/a",
        "iam-user",
        "AKIA1",
        3,
        ["111111111111", "222222222222"],
    )
    assert out["x"][0] == out["y"][0] == "unknown: the chain of parents loops"


def test_mfa_carries_down_a_chain(tmp_path):
    carol = user("carol", "AKIACAROL00000000001")
    con = {
        **user("carol", "ASIACAROLCON00000001"),
        "sessionContext": {
            "attributes": {"creationDate": "2024-03-01T11:00:00Z", "mfaAuthenticated": "true"}
        },
    }
    quiet = role_session("Ops", A, "carol", "ASIAOPS0000000000001", "2024-03-01T11:10:00Z")
    del quiet["sessionContext"]["attributes"]["mfaAuthenticated"]  # the role session's calls say nothing
    recs = [
        rec("2024-03-01T11:00:00Z", "GetSessionToken", "sts.amazonaws.com", carol, read_only=True,
            req={"serialNumber": f"arn:aws:iam::{A}:mfa/carol"},
            resp={"credentials": {"accessKeyId": "ASIACAROLCON00000001", "expiration": "Mar 1, 2024, 11:00:00 PM"}}),
        assume_role("2024-03-01T11:10:00Z", con, role_arn("Ops", A), "carol", "ASIAOPS0000000000001"),
        rec("2024-03-01T11:11:00Z", "CreateRole", "iam.amazonaws.com", quiet, req={"roleName": "x"}),
        assume_role("2024-03-01T11:20:00Z", carol, role_arn("Ops", A), "nomfa", "ASIANOMFA00000000001"),
    ]  # fmt: skip
    case = ifx.open_case(ingest_records(recs, tmp_path))
    sess = {r["session_id"]: r for r in records(st.sessions(case))}
    assert sess["ASIACAROLCON00000001"]["mfa_at_issue"] is True  # serialNumber on GetSessionToken
    assert sess["ASIAOPS0000000000001"]["mfa_at_issue"] is True  # inherited from its parent session
    assert sess["ASIANOMFA00000000001"]["mfa_at_issue"] is False  # a long-term key, no MFA code
    assert st.flags(case, kinds=["iam-write-without-mfa"]).empty


def test_instance_credentials_from_a_network_the_instance_never_used(tmp_path):
    def inst(key: str, created: str) -> dict[str, Any]:
        return role_session("App", A, "i-0123456789abcdef0", key, created, ec2RoleDelivery="2.0")

    nat = "52.95.110.1"  # the instance's NAT address
    recs = [
        rec("2024-03-01T10:05:00Z", "GetObject", "s3.amazonaws.com", inst("ASIAINST000000000001", "2024-03-01T10:00:00Z"), ip=nat),
        rec("2024-03-01T16:05:00Z", "GetObject", "s3.amazonaws.com", inst("ASIAINST000000000002", "2024-03-01T16:00:00Z"), ip=nat),
        rec("2024-03-01T16:30:00Z", "ListBuckets", "s3.amazonaws.com", inst("ASIAINST000000000002", "2024-03-01T16:00:00Z"), ip=EVIL_IP),
    ]  # fmt: skip
    case = ifx.open_case(ingest_records(recs, tmp_path))
    f = st.flags(case, kinds=["new-network"])
    assert list(f["session_id"]) == ["ASIAINST000000000002"] and f.iloc[0]["ips"] == [EVIL_IP]
    assert "outside the networks its other sessions used (52.95.110.0/24)" in f.iloc[0]["detail"]
    # the same session from the NAT is not flagged; nor is the first session
    assert st.flags(case, kinds=["new-network"], sessions=["ASIAINST000000000001"]).empty


def test_a_masked_long_term_key_is_still_the_users_own(tmp_path):
    masked = user("mia", "AKIA****************")
    case = ifx.open_case(
        ingest_records([rec("2024-03-01T09:00:00Z", "ListUsers", "iam.amazonaws.com", masked)], tmp_path)
    )
    e = st.attribute(case).iloc[0]
    assert (e["origin"], e["origin_kind"], e["chain_depth"], e["attribution"]) == (
        f"arn:aws:iam::{A}:user/mia",
        "iam-user",
        0,
        "none",
    )
    assert pd.isna(e["origin_key"])  # a masked key names no key
