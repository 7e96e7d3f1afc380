"""Session tracing on hand-built chains: one story per shape of cloudtrail-reference §4."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis.strategies import integers as st_integers
from hypothesis.strategies import text as st_text

import iamforensics as ifx
from iamforensics.analysis import sessions as st
from iamforensics.analysis.sessions import table
from iamforensics.analysis.sessions.build import records
from iamforensics.cli import main
from iamforensics.errors import QueryError
from tests.sessions_helpers import (
    DAN_IDC,
    EVIL_IP,
    IDSTORE,
    OTHER_IP,
    A,
    B,
    C,
    X,
    all_records,
    assume_role,
    ingest_records,
    rec,
    role_arn,
    role_session,
    story_records,
    user,
)

ALICE = f"arn:aws:iam::{A}:user/alice"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingest_records(all_records(), tmp_path_factory.mktemp("world"))


@pytest.fixture
def case(world: Path) -> Any:
    c = ifx.open_case(world)
    yield c
    c.close()


class Sessions(dict[str, dict[str, Any]]):
    """Sessions by id as plain rows (None for missing values), plus the frame."""

    frame: pd.DataFrame


@pytest.fixture
def sess(case: Any) -> Sessions:
    frame = st.sessions(case)
    out = Sessions({r["session_id"]: r for r in records(frame)})
    out.frame = frame
    return out


@pytest.fixture
def events(case: Any) -> pd.DataFrame:
    return st.attribute(
        case, columns=["event_id", "event_name", "access_key_id", "actor", *st.ATTRIBUTION_COLUMNS]
    )


def of_key(events: pd.DataFrame, key: str) -> pd.DataFrame:
    return events[events["access_key_id"] == key]


def test_user_key_assume_role_then_chained(sess, events):
    d, c = sess["ASIADEPLOY0000000001"], sess["ASIACHAIN00000000001"]
    assert d["kind"] == "assume-role" and d["issuing_event_name"] == "AssumeRole"
    assert d["role_arn"] == role_arn("Deployer", A, "/ops/")  # sessionIssuer / roleArn keep the path
    assert d["principal_arn"] == f"arn:aws:sts::{A}:assumed-role/Deployer/alice-deploy"
    assert (d["origin"], d["origin_kind"], d["origin_key"]) == (ALICE, "iam-user", "AKIAALICE00000000001")
    assert (d["chain_depth"], d["parent_link"], d["issuer_key"]) == (1, "none", "AKIAALICE00000000001")
    assert d["source_identity"] == "alice" and d["mfa_at_issue"] is False
    assert d["expiration"] == pd.Timestamp("2024-03-01T23:00:00Z") and d["expiration_source"] == "response"
    assert (c["parent_session_id"], c["parent_link"], c["chain_depth"]) == (
        "ASIADEPLOY0000000001",
        "exact-key",
        2,
    )
    assert c["origin"] == ALICE and c["origin_key"] == "AKIAALICE00000000001"
    # its events: 2 ListBuckets + the failed and the successful AssumeRole it made
    assert d["events"] == 4 and d["errors"] == 1 and d["failed_issues"] == 1
    assert (of_key(events, "ASIADEPLOY0000000001")["attribution"] == "exact-key").all()
    chained = of_key(events, "ASIACHAIN00000000001").iloc[0]
    assert (chained["session_id"], chained["origin"], chained["chain_depth"]) == (
        "ASIACHAIN00000000001",
        ALICE,
        2,
    )
    own = of_key(events, "AKIAALICE00000000001")  # the key's own calls: no session, origin the user
    assert (
        own["session_id"].isna().all() and (own["origin"] == ALICE).all() and (own["chain_depth"] == 0).all()
    )


def test_failed_assume_role_issues_nothing(sess):
    assert [k for k, v in sess.items() if v["session_name"] == "chain"] == ["ASIACHAIN00000000001"]
    failed = [r for r in story_records()["chain"] if r.get("errorCode")][0]
    assert not any(failed["eventID"] in v["issuing_event_ids"] for v in sess.values())


def test_cross_account_copies_are_one_session(sess, events):
    s = sess["ASIACROSS00000000001"]
    caller, owner = story_records()["cross"][1:3]
    assert s["issuing_event_ids"] == [caller["eventID"], owner["eventID"]]
    assert s["issuing_event_id"] == caller["eventID"]  # the caller's copy, not the AWSAccount view
    assert s["account_id"] == B and s["chain_accounts"] == [A, B] and s["crosses_accounts"]
    assert s["origin"] == f"arn:aws:iam::{A}:user/bob" and s["chain_depth"] == 1
    # the owner's copy carries no key; its sharedEventID ties it to the caller and its origin
    o = events.set_index("event_id").loc[owner["eventID"]]
    assert o["origin"] == f"arn:aws:iam::{A}:user/bob" and o["chain_depth"] == 0
    use = of_key(events, "ASIACROSS00000000001").iloc[0]
    assert use["attribution"] == "exact-key" and use["chain_depth"] == 1


def test_only_the_role_owners_copy(sess, events):
    s = sess["ASIAVENDOR0000000001"]
    assert s["origin_kind"] == "unknown" and s["origin"].startswith(
        "unknown: issued to AROAVENDOR0000000000:scanner"
    )
    assert f"account {X}" in s["origin"] and s["chain_depth"] is None
    # the other account's MFA is not shown on the issuing copy; the session's own events say "false"
    assert s["chain_accounts"] == [X, A] and s["mfa_at_issue"] is False
    owner_copy = events.set_index("event_id").loc[story_records()["vendor"][0]["eventID"]]
    assert owner_copy["origin"].startswith("unknown: ") and owner_copy["attribution"] == "none"


def test_console_sign_in_then_switch_role_by_fallback(sess, events):
    recs = story_records()["switch"]
    console = sess[f"console:{recs[1]['eventID']}"]  # the failed sign-in issued nothing
    assert [v["kind"] for v in sess.values()].count("console") == 1
    assert console["origin"] == f"arn:aws:iam::{A}:user/carol" and console["mfa_at_issue"] is True
    assert console["access_key_id"] is None and console["keys_used"] == ["ASIACAROLCONSOLE0001"]
    assert (of_key(events, "ASIACAROLCONSOLE0001")["attribution"] == "fallback").all()
    sw = sess["ASIASWITCHISSUED0001"]
    assert sw["kind"] == "switch-role" and sw["parent_session_id"] == console["session_id"]
    assert (sw["parent_link"], sw["chain_depth"], sw["chain_accounts"]) == ("fallback", 2, [A, B])
    assert sw["origin"] == f"arn:aws:iam::{A}:user/carol" and sw["mfa_at_issue"] is True
    # the console signs with other keys than the one AssumeRole returned, same creationDate
    assert sw["keys_used"] == ["ASIASWITCHUSED000001", "ASIASWITCHUSED000002"]
    for key in sw["keys_used"]:
        e = of_key(events, key).iloc[0]
        assert (e["session_id"], e["attribution"], e["chain_depth"]) == (
            "ASIASWITCHISSUED0001",
            "fallback",
            2,
        )
    switch_event = events.set_index("event_id").loc[recs[5]["eventID"]]  # no key, no sessionContext
    assert switch_event["session_id"] == "ASIASWITCHISSUED0001" and switch_event["attribution"] == "fallback"


def test_identity_center_role_credentials_and_saml(sess, events):
    recs = story_records()["identity-center"]
    s = sess["ASIASAMLISSUED000001"]
    assert s["kind"] == "identity-center" and s["account_id"] == C
    assert s["issuing_event_ids"] == [recs[1]["eventID"], recs[0]["eventID"]]  # SAML + GetRoleCredentials
    assert s["origin"] == f"identitycenter:{IDSTORE}#{DAN_IDC}" and s["origin_kind"] == "identity-center-user"
    assert s["mfa_at_issue"] is None  # the IdP's MFA is invisible to AWS
    assert not any(k.startswith("sso:") for k in sess)
    assert "aws-reserved/sso.amazonaws.com/eu-west-2/" in s["role_arn"]
    e = of_key(events, "ASIASAMLUSED00000001").iloc[0]
    assert (e["session_id"], e["attribution"], e["origin"]) == (
        "ASIASAMLISSUED000001",
        "fallback",
        s["origin"],
    )


def test_session_token_and_federation_token(sess, case):
    erin = sess["ASIAERINSESSION00001"]
    assert (erin["kind"], erin["mfa_at_issue"], erin["origin"]) == (
        "session-token",
        True,
        f"arn:aws:iam::{A}:user/erin",
    )
    assert erin["expiration"] == pd.Timestamp("2024-03-01T14:00:00Z")
    fed = sess["ASIAFEDERATED0000001"]
    assert fed["kind"] == "federation-token" and fed["session_name"] == "fed1"
    assert fed["principal_arn"] == f"arn:aws:sts::{A}:federated-user/fed1"
    assert (fed["origin"], fed["origin_key"], fed["mfa_at_issue"]) == (
        f"arn:aws:iam::{A}:user/frank",
        "AKIAFRANK00000000001",
        False,
    )
    f = st.flags(case, kinds=["iam-write-without-mfa"])
    assert list(f["session_id"]) == ["ASIAFEDERATED0000001"]  # erin's CreateUser had MFA
    assert f.iloc[0]["severity"] == "high" and "CreateAccessKey" in f.iloc[0]["detail"]


def test_assume_root_from_a_role_session(sess, events):
    r = sess["ASIAROOTTASK00000001"]
    assert (
        r["kind"] == "assume-root" and r["principal_arn"] == f"arn:aws:iam::{B}:root" and r["account_id"] == B
    )
    assert (r["parent_session_id"], r["chain_depth"], r["chain_accounts"]) == (
        "ASIAORGADMIN00000001",
        2,
        [A, B],
    )
    assert r["origin"] == f"arn:aws:iam::{A}:user/gina"
    use = of_key(events, "ASIAROOTTASK00000001").iloc[0]
    assert use["actor"] == f"arn:aws:iam::{B}:root" and use["origin"] == f"arn:aws:iam::{A}:user/gina"


def test_used_after_expiry(sess, case):
    s = sess["ASIASHORT00000000001"]
    assert s["expiration"] == pd.Timestamp("2024-03-01T16:15:00Z") and s["expiration_source"] == "response"
    f = st.flags(case, kinds=["used-after-expiry"])
    assert list(f["session_id"]) == ["ASIASHORT00000000001"]
    row = f.iloc[0]
    assert row["severity"] == "high"  # a call with the issued key succeeded after it expired
    assert "2 events after it expired" in row["detail"] and "1 ExpiredToken" in row["detail"]
    assert len(row["event_ids"]) == 2


def test_ambiguity_is_shown_not_guessed(sess, events, case):
    both = ["ASIATWIN0000000000I1", "ASIATWIN0000000000J1"]
    amb = events[events["attribution"] == "ambiguous"]
    assert len(amb) == 2  # the unissued key and the keyless call
    for r in amb.itertuples():
        assert pd.isna(r.session_id) and r.candidates == both
        assert r.origin == f"ambiguous: arn:aws:iam::{A}:user/ivan | arn:aws:iam::{A}:user/judy"
        assert pd.isna(r.chain_depth)
    assert [sess[k]["events"] for k in both] == [0, 0]  # neither twin is credited with the calls
    tree = st.trace(case, access_key_id="ASIATWINCONSOLE00001", with_flags=False)
    assert list(tree["node"]) == ["ASIATWINCONSOLE00001", *both]
    assert list(tree["link"])[1:] == ["ambiguous", "ambiguous"] and tree.iloc[0]["kind"] == "temporary-key"


def test_ambiguous_candidates_with_one_origin_give_that_origin(tmp_path):
    ivan = user("ivan", "AKIAIVAN000000000001")
    twin = role_arn("Shared", A)
    recs = [
        assume_role("2024-03-01T17:00:00Z", ivan, twin, "same", "ASIATWIN0000000000I1"),
        assume_role("2024-03-01T17:00:00Z", ivan, twin, "same", "ASIATWIN0000000000I2"),
        rec("2024-03-01T17:01:00Z", "ListBuckets", "s3.amazonaws.com",
            role_session("Shared", A, "same", "ASIATWINCONSOLE00001", "2024-03-01T17:00:00Z")),
    ]  # fmt: skip
    c = ifx.open_case(ingest_records(recs, tmp_path))
    e = st.attribute(c, access_key_id="ASIATWINCONSOLE00001").iloc[0]
    # every candidate leads to ivan: the origin is known even though the session is not
    assert e["attribution"] == "ambiguous" and pd.isna(e["session_id"])
    assert e["origin"] == f"arn:aws:iam::{A}:user/ivan" and e["chain_depth"] == 1


def test_service_delivered_credentials(sess, case):
    inst = sess["ASIAINSTANCE00000001"]
    assert (inst["kind"], inst["origin"], inst["origin_kind"]) == (
        "instance-profile",
        "ec2.amazonaws.com",
        "aws-service",
    )
    assert inst["issuer_type"] == "AWSService" and inst["session_name"] == "i-0abc1234def567890"
    seen = sess["ASIAINSTANCEOBSERVED"]
    assert (
        seen["observed_only"] and seen["kind"] == "instance-profile" and seen["origin"] == "ec2.amazonaws.com"
    )
    lam = sess["ASIALAMBDAOBSERVED01"]
    assert (lam["kind"], lam["origin"]) == ("service-delivered", "lambda.amazonaws.com")
    f = st.flags(case, kinds=["new-network"]).set_index("session_id")
    # stolen instance credentials: used from an address an IAM user works from
    assert EVIL_IP in f.loc["ASIAINSTANCE00000001", "ips"]
    assert f"arn:aws:iam::{A}:user/kate" in f.loc["ASIAINSTANCE00000001", "detail"]
    assert "ASIAINSTANCEOBSERVED" not in f.index and "ASIALAMBDAOBSERVED01" not in f.index
    # the chained session used from a network its parent session and issuing call never used
    assert OTHER_IP in f.loc["ASIACHAIN00000000001", "ips"]
    assert "ASIADEPLOY0000000001" not in f.index
    assert set(f.index) == {"ASIAINSTANCE00000001", "ASIACHAIN00000000001"}


def test_sessions_seen_only_in_use(sess, events):
    m = sess["ASIAMYSTERY000000001"]
    assert m["observed_only"] and m["kind"] == "observed" and m["issuing_event_id"] is None
    assert m["origin"] == "unknown: issuing event not in the case (sourceIdentity lee)"
    assert m["issued_at"] == pd.Timestamp("2024-03-01T18:50:00Z")
    ghost = next(v for v in sess.values() if v["session_name"] == "boo")
    assert ghost["session_id"].startswith("observed:") and ghost["access_key_id"] is None
    e = events[events["event_name"] == "GetBucketAcl"].iloc[0]
    assert e["session_id"] == ghost["session_id"] and e["attribution"] == "fallback"


def test_every_event_is_attributed_once(case, events):
    assert len(events) == len(case) == events["event_id"].nunique()
    assert set(events["attribution"]) <= set(st.ATTRIBUTIONS)
    linked = events["attribution"].isin(["exact-key", "fallback"])
    # a session for every linked event; none for the others (shared copies take their partner's)
    assert events.loc[linked, "session_id"].notna().all()
    amb = events["attribution"] == "ambiguous"
    assert events.loc[amb, "candidates"].map(len).ge(2).all()
    assert events.loc[~amb, "candidates"].isna().all()
    assert events["origin"].notna().all()


def test_origin_of_walks_back_to_the_human(case, events):
    ev = of_key(events, "ASIACHAIN00000000001").iloc[0]["event_id"]
    hops = st.origin_of(case, ev)
    assert list(hops["node_type"]) == ["event", "session", "session", "origin"]
    assert list(hops["node"]) == [ev, "ASIACHAIN00000000001", "ASIADEPLOY0000000001", ALICE]
    assert list(hops["link"])[:3] == ["exact-key", "exact-key", "none"]
    assert (hops["origin"] == ALICE).all() and hops.iloc[3]["key"] == "AKIAALICE00000000001"
    sw = of_key(events, "ASIASWITCHUSED000002").iloc[0]["event_id"]
    assert list(st.origin_of(case, sw)["node_type"]) == ["event", "session", "session", "origin"]
    amb = events[events["attribution"] == "ambiguous"].iloc[0]["event_id"]
    hops = st.origin_of(case, amb)
    assert list(hops["node_type"]) == ["event", "ambiguous", "origin"]
    with pytest.raises(QueryError):
        st.origin_of(case, "no-such-event")


def test_trace_from_a_long_term_key(case):
    t = st.trace(case, access_key_id="AKIAALICE00000000001")
    assert list(t["node"]) == ["AKIAALICE00000000001", "ASIADEPLOY0000000001", "ASIACHAIN00000000001"]
    assert list(t["depth"]) == [0, 1, 2] and list(t["parent"])[1:] == [
        "AKIAALICE00000000001",
        "ASIADEPLOY0000000001",
    ]
    assert list(t["events"]) == [2, 4, 1] and t.iloc[0]["principal"] == ALICE
    assert t.iloc[2]["flags"] == ["new-network"]
    ev = st.trace_events(case, access_key_id="AKIAALICE00000000001")
    assert len(ev) == 7 and set(ev["session_id"].dropna()) == {"ASIADEPLOY0000000001", "ASIACHAIN00000000001"}


def test_trace_from_an_identity_and_a_session(case):
    t = st.trace(case, actor=f"arn:aws:iam::{A}:user/carol", with_flags=False)
    assert list(t["kind"]) == ["identity", "console", "switch-role"] and list(t["depth"]) == [0, 1, 2]
    assert t.iloc[0]["events"] == 2  # the two sign-ins (one failed) are the identity's own events
    t = st.trace(case, session_id="ASIADEPLOY0000000001", with_flags=False)
    assert list(t["node"]) == ["ASIADEPLOY0000000001", "ASIACHAIN00000000001"] and list(t["depth"]) == [0, 1]
    t = st.trace(case, access_key_id="ASIASWITCHUSED000001", with_flags=False)  # a console key
    assert list(t["node"]) == ["ASIASWITCHISSUED0001"] and t.iloc[0]["link"] == "fallback"
    t = st.trace(case, actor=role_arn("Deployer", A, "/ops/"), with_flags=False)  # a role: its sessions
    assert list(t["node"]) == [
        role_arn("Deployer", A, "/ops/"),
        "ASIADEPLOY0000000001",
        "ASIACHAIN00000000001",
    ]
    with pytest.raises(QueryError):
        st.trace(case, access_key_id="AKIAALICE00000000001", actor=ALICE)
    with pytest.raises(QueryError):
        st.trace(case, access_key_id="AKIANOTINTHECASE0001")
    with pytest.raises(QueryError):
        st.trace(case, session_id="nope")


def test_cross_account_chain_flags(case):
    f = st.flags(case, kinds=["cross-account-chain"]).set_index("session_id")
    assert set(f.index) == {"ASIACROSS00000000001", "ASIAVENDOR0000000001", "ASIASWITCHISSUED0001",
                            "ASIAROOTTASK00000001"}  # fmt: skip
    assert f"outside the case's accounts: {X}" in f.loc["ASIAVENDOR0000000001", "detail"]
    assert (f["severity"] == "medium").all()  # each is the first hop of its kind
    with pytest.raises(QueryError):
        st.flags(case, kinds=["nope"])


def test_cache_is_reused_and_rebuilt_when_the_case_changes(tmp_path, monkeypatch):
    recs = story_records()["chain"]
    path = ingest_records(recs, tmp_path)
    first = st.sessions(ifx.open_case(path))
    folders = list((path / "derived" / "sessions").iterdir())
    assert len(folders) == 1
    files = {p.name for p in folders[0].iterdir()}
    assert files == {"sessions.parquet", "keys.parquet", "profiles.parquet", "partners.parquet", "meta.json"}
    # the per-event attribution, for tools that join without this package
    att = pd.read_parquet(
        st.export_attribution(ifx.open_case(path), tmp_path / "out" / "attribution.parquet")
    )
    assert len(att) == len(recs) and set(att["session_id"].dropna()) == set(first["session_id"])

    def no_build(*a: Any, **k: Any) -> None:
        raise AssertionError("rebuilt although the case did not change")

    monkeypatch.setattr(table, "build", no_build)
    again = st.sessions(ifx.open_case(path))  # a new Case object: read from the cache
    pd.testing.assert_frame_equal(first, again)
    monkeypatch.undo()
    more = [rec("2024-03-02T09:00:00Z", "ListBuckets", "s3.amazonaws.com",
                role_session("Other", A, "x", "ASIAOTHER00000000001", "2024-03-02T08:00:00Z"))]  # fmt: skip
    (tmp_path / "more.json").write_text(json.dumps({"Records": more}))
    ifx.ingest([str(tmp_path / "more.json")], path, jobs=1)
    grown = st.sessions(ifx.open_case(path))
    assert "ASIAOTHER00000000001" in set(grown["session_id"]) and len(grown) == len(first) + 1
    assert len(list((path / "derived" / "sessions").iterdir())) == 1  # the stale cache is gone


def test_duplicate_evidence_changes_nothing(tmp_path):
    recs = story_records()["cross"]
    path = ingest_records(recs, tmp_path)
    before = st.sessions(ifx.open_case(path))
    ifx.ingest([str(tmp_path / "case.json")], path, jobs=1)  # the same file again: duplicates
    after = st.sessions(ifx.open_case(path))
    cols = ["session_id", "issuing_event_ids", "origin", "events", "chain_accounts"]
    pd.testing.assert_frame_equal(before[cols], after[cols])


def test_a_dataframe_of_events_gives_the_same_sessions(case, sess):
    frame = st.sessions(case.events())
    assert list(frame["session_id"]) == list(sess.frame["session_id"])
    assert list(frame["origin"]) == list(sess.frame["origin"]) and list(frame["events"]) == list(
        sess.frame["events"]
    )


def test_attacker_strings_stay_data(tmp_path, capsys):
    evil = "x'; DROP TABLE events; --$\\n\x1b[31m\u202e"
    eve = user("eve", "AKIAEVE0000000000001")
    recs = [
        assume_role("2024-03-03T09:00:00Z", eve, role_arn("R", A), evil, "ASIAEVIL000000000001"),
        rec("2024-03-03T09:01:00Z", "ListBuckets", "s3.amazonaws.com",
            role_session("R", A, evil, "ASIAEVIL000000000001", "2024-03-03T09:00:00Z")),
    ]  # fmt: skip
    path = ingest_records(recs, tmp_path)
    s = st.sessions(ifx.open_case(path)).set_index("session_id")
    assert (
        s.loc["ASIAEVIL000000000001", "session_name"] == evil and s.loc["ASIAEVIL000000000001", "events"] == 1
    )
    assert main(["trace", "--case", str(path), "--key", "AKIAEVE0000000000001"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and len(out.strip().splitlines()) == 2
    assert "DROP TABLE" in out  # shown, harmless


def test_cli_trace(world, capsys):
    assert main(["trace", "--case", str(world), "--key", "AKIAALICE00000000001", "--events"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("AKIAALICE00000000001  long-term-key")
    assert out[1].startswith("└─ ASIADEPLOY0000000001  assume-role") and "1 failed issue calls" in out[1]
    assert out[2].startswith("   └─ ASIACHAIN00000000001") and "FLAGS: new-network" in out[2]
    assert sum("AccessDenied" in line for line in out) == 1 and len(out) == 3 + 1 + 7
    assert main(["trace", "--case", str(world), "--key", "AKIANOTINTHECASE0001"]) == 2
    assert "does not appear" in capsys.readouterr().err


def test_case_sessions_method(case, sess):
    assert list(case.sessions()["session_id"]) == list(sess.frame["session_id"])


def test_findings_and_ledgers_get_origins(case, events):
    # the hook detections and the IAM ledger use to name the identity behind an event
    got = st.event_origins(case).set_index("event_id")["origin"]
    assert got.to_dict() == events.set_index("event_id")["origin"].to_dict()
    some = list(events["event_id"].iloc[::7])
    picked = st.event_origins(case, some).set_index("event_id")["origin"]
    assert sorted(picked.index) == sorted(some) and picked.to_dict() == got[some].to_dict()


def test_an_empty_case_has_no_sessions(tmp_path):
    from iamforensics.store import init_case

    case = ifx.open_case(init_case(tmp_path / "empty"))
    assert st.sessions(case).empty and list(st.sessions(case).columns) == list(st.SESSION_COLUMNS)
    assert st.flags(case).empty and st.attribute(case).empty
    with pytest.raises(QueryError):
        st.trace(case, actor=ALICE)


@given(text=st_text(), max_len=st_integers(min_value=2, max_value=300))
def test_cli_text_is_terminal_safe(text, max_len):
    from iamforensics.analysis.sessions.cli import clean

    out = clean(text, max_len)
    assert len(out) <= max_len
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"} for ch in out)
    if len(text) <= max_len and all(unicodedata.category(ch)[0] in "LNPS" or ch == " " for ch in text):
        assert out == text  # ordinary text is shown as it is


def test_plain_saml_session_is_traced_to_the_idp_user(tmp_path):
    """An AssumeRoleWithSAML from an external IdP (Okta), not Identity Center: origin idp-saml."""
    from tests.sessions_helpers import creds

    provider = f"arn:aws:iam::{A}:saml-provider/Okta"
    role = role_arn("OktaAdmins", A)
    saml = rec("2024-03-02T09:00:00Z", "AssumeRoleWithSAML", "sts.amazonaws.com",
               {"type": "SAMLUser", "principalId": "T2t0YUhhc2g=:carol@example.com",
                "userName": "carol@example.com", "identityProvider": "T2t0YUhhc2g="},
               req={"roleArn": role, "principalArn": provider, "durationSeconds": 3600},
               resp={"credentials": creds("ASIAOKTACAROL0000001", "Mar 2, 2024, 10:00:00 AM"),
                     "assumedRoleUser": {"arn": f"arn:aws:sts::{A}:assumed-role/OktaAdmins/carol@example.com"},
                     "subject": "carol@example.com", "issuer": "http://www.okta.com/exk1"}, read_only=True)  # fmt: skip
    used = rec("2024-03-02T09:05:00Z", "CreateUser", "iam.amazonaws.com",
               role_session("OktaAdmins", A, "carol@example.com", "ASIAOKTACAROL0000001", "2024-03-02T09:00:00Z"),
               req={"userName": "okta-made"})  # fmt: skip
    case = ifx.open_case(ingest_records([saml, used], tmp_path))
    s = st.sessions(case).set_index("session_id").loc["ASIAOKTACAROL0000001"]
    assert s["kind"] == "saml" and s["origin_kind"] == "idp-saml"
    assert "carol@example.com" in s["origin"] and s["issuing_event_id"] == saml["eventID"]
    ev = st.attribute(case).set_index("event_id").loc[used["eventID"]]
    assert (ev["session_id"], ev["attribution"], ev["origin"]) == (
        "ASIAOKTACAROL0000001",
        "exact-key",
        s["origin"],
    )
    case.close()
