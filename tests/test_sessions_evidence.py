"""Session tracing on real public evidence (../shared/data) and on the sample scenario's answer key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import iamforensics as ifx
from iamforensics.analysis import sessions as st
from iamforensics.analysis.sessions.build import records
from tests.conftest import ROOT, shared_path

STRATUS = ("stratus-red-team-detonation-logs", "raw")


def _case(tmp: Path, *evidence: Path) -> Any:
    ifx.ingest([str(e) for e in evidence], tmp / "case", jobs=1)
    return ifx.open_case(tmp / "case")


def by_id(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["session_id"]: r for r in records(frame)}


def test_stolen_instance_credentials_stratus(tmp_path):
    case = _case(tmp_path, shared_path(*STRATUS, "aws.credential-access.ec2-steal-instance-credentials.json"))
    sess = by_id(st.sessions(case))
    assert list(sess) == ["ASIAP5CT9NN8EYVU1FXV"]  # the instance session; christophe used his own key
    s = sess["ASIAP5CT9NN8EYVU1FXV"]
    # no issuing event in the detonation log: seen through its use, delivered by EC2 (ec2RoleDelivery)
    assert s["observed_only"] and s["kind"] == "instance-profile"
    assert (s["origin"], s["origin_kind"], s["chain_depth"]) == ("ec2.amazonaws.com", "aws-service", 1)
    assert s["role_arn"] == "arn:aws:iam::017622104382:role/stratus-red-team-ec2-steal-credentials-role"
    assert s["session_name"] == "i-786a3A8B5C0d92eF4" and s["issued_at"] == pd.Timestamp(
        "2024-08-02T08:20:52Z"
    )
    assert s["events"] == 2 and s["ips"] == ["18.236.253.47"]
    f = st.flags(case)
    assert list(zip(f["flag"], f["session_id"], strict=True)) == [("new-network", "ASIAP5CT9NN8EYVU1FXV")]
    assert (
        "arn:aws:iam::017622104382:user/christophe" in f.iloc[0]["detail"] and f.iloc[0]["severity"] == "high"
    )
    ev = st.attribute(case, access_key_id="ASIAP5CT9NN8EYVU1FXV")
    assert sorted(ev["event_name"]) == ["DescribeInstances", "GetCallerIdentity"]
    assert (ev["attribution"] == "exact-key").all() and (ev["origin"] == "ec2.amazonaws.com").all()
    hops = st.origin_of(case, ev["event_id"].iloc[0])
    assert list(hops["node"])[1:] == ["ASIAP5CT9NN8EYVU1FXV", "ec2.amazonaws.com"]
    # the attacker's own calls are the IAM user's, on his long-term key
    own = st.attribute(case, access_key_id="AKIAAM80VXLJF8NPK4VC")
    assert len(own) == 43 and (own["origin"] == "arn:aws:iam::017622104382:user/christophe").all()
    tree = st.trace(case, access_key_id="ASIAP5CT9NN8EYVU1FXV")
    assert list(tree["node"]) == ["ASIAP5CT9NN8EYVU1FXV"] and tree.iloc[0]["flags"] == ["new-network"]


def test_federation_token_traced_to_the_user_stratus(tmp_path):
    case = _case(tmp_path, shared_path(*STRATUS, "aws.persistence.sts-federation-token.json"))
    user = "arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user"
    (s,) = records(st.sessions(case))
    assert (s["session_id"], s["kind"], s["issuing_event_id"]) == (
        "ASIASTJKC5GCM7ZE6LUP",
        "federation-token",
        "6e882b9d-2af8-4c67-b91f-aeac6a0e5e70",
    )
    assert (s["origin"], s["origin_key"], s["chain_depth"]) == (user, "AKIA6V1GNZTT65XQH36M", 1)
    assert s["principal_arn"] == "arn:aws:sts::742491224508:federated-user/stratus_red_team"
    assert s["expiration"] == pd.Timestamp("2024-11-30T20:43:17Z")  # "Nov 30, 2024, 8:43:17 PM"
    assert s["mfa_at_issue"] is False
    e = st.attribute(case, access_key_id="ASIASTJKC5GCM7ZE6LUP")
    assert list(e["event_id"]) == ["91529247-c4c4-4793-afc8-d70bbcfe9d19"]
    assert (e["attribution"].iloc[0], e["origin"].iloc[0], e["chain_depth"].iloc[0]) == ("exact-key", user, 1)
    tree = st.trace(case, access_key_id="AKIA6V1GNZTT65XQH36M")
    assert list(tree["node"]) == ["AKIA6V1GNZTT65XQH36M", "ASIASTJKC5GCM7ZE6LUP"] and list(
        tree["events"]
    ) == [1, 1]


def test_every_stratus_event_has_an_origin(tmp_path):
    case = _case(tmp_path, shared_path(*STRATUS))
    ev = st.attribute(case)
    assert len(ev) == len(case) == 310
    assert ev["origin"].notna().all()
    sess = st.sessions(case)
    # 12 AssumeRole calls, 4 denied: 8 sessions (the Go SDK's pairs are distinct keys); the
    # denied calls issue nothing
    calls = case.sql("SELECT event_id, error_code FROM events WHERE event_name = 'AssumeRole'")
    assert len(calls) == 12
    issued = {e for ids in sess["issuing_event_ids"] for e in ids}
    assert set(calls.loc[calls["error_code"].isna(), "event_id"]) <= issued
    assert not set(calls.loc[calls["error_code"].notna(), "event_id"]) & issued
    assert (sess["issuing_event_name"] == "AssumeRole").sum() == 8
    assert sess["access_key_id"].dropna().is_unique
    assert set(
        sess.loc[sess["issuing_event_name"] == "AssumeRole", "origin"].str.rsplit("/", n=1).str[1]
    ) == {"christophe"}
    idc = sess[sess["role_arn"].fillna("").str.contains("aws-reserved/sso.amazonaws.com")]
    assert list(idc["kind"]) == ["identity-center"] and idc["origin"].str.startswith("unknown: ").all()


def test_otrf_ec2_proxy_stolen_role_credentials(tmp_path):
    folder = shared_path("otrf-ec2-proxy-s3-exfil", "raw", "extracted")
    case = _case(tmp_path, folder)
    assert len(case) > 0, "the Logstash NDJSON export ingested nothing (the logstash reader regressed)"
    sess = by_id(st.sessions(case))
    inst = {k: v for k, v in sess.items() if v["kind"] == "instance-profile"}
    # five AssumeRole by EC2: three for i-0317... share one requestID, yet each issued its own key
    assert len(inst) == 5 and all(v["issuer_type"] == "AWSService" for v in inst.values())
    stolen = sess["ASIA5FLZVX4OPVKKVBMX"]
    assert (stolen["session_name"], stolen["origin"], stolen["parent_link"]) == (
        "i-0317f6c6b66ae9c40",
        "ec2.amazonaws.com",
        "none",
    )
    assert stolen["role_arn"] == "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"
    assert stolen["events"] == 11 and stolen["expiration"] == pd.Timestamp("2020-09-14T07:10:27Z")
    used = st.attribute(case, session_id="ASIA5FLZVX4OPVKKVBMX")
    assert sorted(set(used["event_name"])) == ["GetObject", "ListBuckets", "ListObjects"]
    assert (used["attribution"] == "exact-key").all()  # by key, not by the (triple) creationDate
    # all client addresses are anonymised to 1.2.3.4, the admin's too: the instance session
    # shows up from an address a human identity uses
    f = st.flags(case, kinds=["new-network"])
    assert list(f["session_id"]) == ["ASIA5FLZVX4OPVKKVBMX"]
    assert "arn:aws:iam::123456789123:user/pedro" in f.iloc[0]["detail"]


# -- the sample scenario's answer key ------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    from iamforensics.samples import load_answers

    folder = ROOT / "data" / "samples"
    if not (folder / "ANSWERS.yaml").is_file():
        pytest.skip("the sample scenario (data/samples) is not generated")
    tmp = tmp_path_factory.mktemp("sample")
    ifx.ingest([str(folder / "AWSLogs")], tmp / "case", jobs=2)
    return ifx.open_case(tmp / "case"), load_answers(folder)


def _t(value: Any) -> pd.Timestamp:
    return (
        pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC")
    )


def test_sample_leaked_key_finds_exactly_its_sessions(sample):
    case, answers = sample
    key = answers["leaked_key"]["access_key_id"]
    tree = st.trace(case, access_key_id=key)
    assert tree.iloc[0]["node"] == key and tree.iloc[0]["principal"] == answers["leaked_key"]["owner_arn"]
    found = by_id(st.sessions(case).pipe(lambda s: s[s["session_id"].isin(tree["node"])]))
    expected = {s["access_key_id"]: s for s in answers["sessions"]}
    assert set(found) == set(expected)
    parent_key = {r["node"]: r["parent"] for r in records(tree)}
    for k, a in expected.items():
        s = found[k]
        assert s["session_name"] == a["session_name"] and s["account_id"] == a["account"]
        assert s["role_arn"] == a["role_arn"]
        assert s["origin"] == a["origin"] and s["chain_depth"] == a["chain_depth"]
        assert parent_key[k] == a["parent_access_key_id"]
        assert s["issued_at"] == _t(a["created"]) and s["expiration"] == _t(a["expires"])
        assert sorted(s["issuing_event_ids"]) == sorted(e["event_id"] for e in a["issued_by"])
        assert s["origin_key"] == key
    assert {s["principal_arn"].split(":")[5].split("/")[0] for s in found.values()} == {
        "federated-user",
        "assumed-role",
    }


def test_sample_flags_are_the_attack(sample):
    case, answers = sample
    f = st.flags(case)
    exp = answers["expired_session_use"]
    late = f[f["flag"] == "used-after-expiry"]
    assert list(late["session_id"]) == [exp["access_key_id"]]  # nothing in the benign week
    assert exp["event_id"] in late.iloc[0]["event_ids"]
    assert f[f["flag"] == "new-network"].empty  # the attacker used the leaked key itself, not stolen sessions
    first_hops = f[(f["flag"] == "cross-account-chain") & (f["severity"] == "medium")]
    attack = {s["access_key_id"] for s in answers["sessions"] if s["chain_depth"] == 1 and s["role_arn"]}
    backdoor = [c for c in answers["attacker_credentials"] if c["kind"] == "backdoor-role-session"][0]
    assert attack | {backdoor["access_key_id"]} <= set(first_hops["session_id"])
    row = first_hops.set_index("session_id").loc[backdoor["access_key_id"], "detail"]
    assert answers["accounts"]["attacker"]["id"] in row


def test_sample_attacker_console_sessions(sample):
    case, answers = sample
    sess = st.sessions(case)
    for cred in answers["attacker_credentials"]:
        if cred["kind"] not in ("console-session", "root-console-session"):
            continue
        s = sess[sess["session_id"] == f"console:{cred['created_by']['event_id']}"].iloc[0]
        assert s["origin"] == cred["principal_arn"] and cred["access_key_id"] in s["keys_used"]
        ev = st.attribute(case, access_key_id=cred["access_key_id"])
        assert (ev["attribution"] == "fallback").all() and (ev["session_id"] == s["session_id"]).all()
    backdoor = [c for c in answers["attacker_credentials"] if c["kind"] == "backdoor-role-session"][0]
    b = sess[sess["session_id"] == backdoor["access_key_id"]].iloc[0]
    assert b["origin"].startswith("unknown: ") and answers["accounts"]["attacker"]["id"] in b["origin"]
    assert list(b["chain_accounts"]) == [answers["accounts"]["attacker"]["id"], backdoor["account"]]


def test_sample_every_event_attributed(sample):
    case, answers = sample
    ev = st.attribute(case, columns=["event_id", "attribution", "origin", "session_id"])
    assert len(ev) == answers["evidence"]["unique_events"] == ev["event_id"].nunique()
    counts = ev["attribution"].value_counts()
    assert "ambiguous" not in counts  # the week has no two issuances the fallback could confuse
    assert counts["fallback"] > 0 and counts["exact-key"] > counts["fallback"]


def test_sample_web_identity_sessions_trace_to_the_oidc_subject(sample):
    """Every AssumeRoleWithWebIdentity in the sample (GitHub Actions CI) issues a web-identity
    session whose origin names the OIDC provider and subject; roles chained from it inherit it."""
    case, _ = sample
    issued = case.sql(
        "SELECT event_id, raw FROM events WHERE event_name = 'AssumeRoleWithWebIdentity' AND NOT is_error"
    )
    assert len(issued) > 0
    sess = st.sessions(case).set_index("session_id")
    ev = st.attribute(case).set_index("event_id")
    for _, row in issued.iterrows():
        raw = json.loads(row["raw"])
        key = raw["responseElements"]["credentials"]["accessKeyId"]
        provider = raw["userIdentity"]["identityProvider"]
        s = sess.loc[key]
        assert (s["kind"], s["origin_kind"], s["issuing_event_id"]) == (
            "web-identity",
            "idp-web-identity",
            row["event_id"],
        )
        assert provider in s["origin"] and raw["userIdentity"]["userName"] in s["origin"]
        used = ev[ev["session_id"] == key]
        assert (used["origin"] == s["origin"]).all()
        for child_id, child in sess[sess["parent_session_id"] == key].iterrows():
            assert child["origin"] == s["origin"] and child["chain_depth"] > s["chain_depth"], child_id
