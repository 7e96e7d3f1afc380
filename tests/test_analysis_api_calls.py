"""API-call analyses on real evidence: error histograms, the GetPasswordData brute force, the
scenario's recon burst, first-seen and rare APIs."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from iamforensics.analysis import api_calls as ac
from iamforensics.errors import QueryError
from tests.analysis_helpers import samples_answers, samples_case, stratus_case, stratus_records

TECHNIQUES = ("ec2-get-password-data", "ec2-download-user-data", "ec2-launch-unusual-instances")


def test_histogram_by_error_code_counts_the_raw_error_codes():
    case = stratus_case()
    h = ac.histogram(case, by="error_code", top=0).set_index("key")
    raw = [r for t in TECHNIQUES for r in stratus_records(t)]
    codes = Counter(r["errorCode"] for r in raw if r.get("errorCode"))
    # Client.UnauthorizedOperation comes only from these three detonations.
    assert h.loc["Client.UnauthorizedOperation", "events"] == codes["Client.UnauthorizedOperation"] == 46
    assert (h["error"] == h["events"]).all() and (h["error_rate"] == 1.0).all()


def test_histogram_partitions_and_top_n_other():
    case = stratus_case()
    full = ac.histogram(case, by="service", top=0)
    assert full["events"].sum() == len(case)
    assert (full["read"] + full["write"] + full["error"] == full["events"]).all()
    top = ac.histogram(case, by="service", top=3)
    assert len(top) == 4 and top["key"].iloc[-1] == "other"
    assert top["events"].sum() == len(case)
    assert top["events"].iloc[:3].tolist() == full["events"].iloc[:3].tolist()
    other = top.iloc[-1]
    assert other["error_rate"] == pytest.approx(other["error"] / other["events"])
    for by in ("actor", "region", "event_name", "user_agent_family", "source_ip"):
        assert ac.histogram(case, by=by, top=0)["events"].sum() == len(case)
    with pytest.raises(QueryError):
        ac.histogram(case, by="event_name; DROP TABLE events")


def test_get_password_data_brute_force_is_one_burst():
    raw = stratus_records("ec2-get-password-data")
    denied = [r for r in raw if r.get("errorCode") == "Client.UnauthorizedOperation"]
    case = stratus_case("ec2-get-password-data")
    bursts = ac.denied_bursts(case, min_events=10)
    assert len(bursts) == 1
    b = bursts.iloc[0]
    assert b["key"] == denied[0]["userIdentity"]["arn"]
    assert b["events"] == len(denied) == 30
    assert sorted(b["event_ids"]) == sorted(r["eventID"] for r in denied)
    assert b["event_names"] == "GetPasswordData" and b["error_codes"] == "Client.UnauthorizedOperation"
    assert b["start"] == pd.Timestamp(min(r["eventTime"] for r in denied))
    assert b["seconds"] <= 10
    # The two AccessDenied AssumeRole calls before it are too few to be a burst ...
    assert ac.denied_bursts(case, min_events=2, by="access_key_id")["events"].tolist() == [30, 2]
    # ... and a threshold above the burst finds nothing.
    assert ac.denied_bursts(case, min_events=31).empty


def test_bursts_over_all_detonations_and_the_distinct_api_threshold():
    case = stratus_case()
    bursts = ac.denied_bursts(case, min_events=10)
    assert sorted(bursts["events"]) == [15, 30]
    assert set(bursts["event_names"]) == {"GetPasswordData", "DescribeInstanceAttribute"}
    # One API hammered in a loop is not API-walking recon.
    assert ac.denied_bursts(case, min_events=10, min_apis=3).empty


def test_the_scenario_recon_burst_is_found():
    answers = samples_answers()
    case = samples_case()
    expected = {e["event_id"] for e in answers["access_denied_burst"]}
    bursts = ac.denied_bursts(case, min_events=5, min_apis=3, gap="10min")
    hits = bursts[bursts["event_ids"].map(lambda ids: bool(expected & set(ids)))]
    assert len(hits) == 1
    burst = hits.iloc[0]
    assert expected <= set(burst["event_ids"])
    assert burst["key"] == answers["leaked_key"]["owner_arn"]
    attacker = {i["ip"] for i in answers["attacker_ips"]}
    assert set(burst["source_ips"].split(", ")) <= attacker
    by_key = ac.denied_bursts(case, by="access_key_id", min_events=5, min_apis=3, gap="10min")
    assert answers["leaked_key"]["access_key_id"] in set(by_key["key"])


def test_first_seen_apis_match_a_pandas_recomputation():
    case = samples_case()
    since = pd.Timestamp("2024-05-08", tz="UTC")
    got = ac.first_seen_apis(case, since=since)
    ev = case.events(columns=["event_time", "actor", "event_source", "event_name"])
    ev["actor"] = ev["actor"].fillna("(unknown)")
    key = ["actor", "event_source", "event_name"]
    before = set(map(tuple, ev[ev["event_time"] < since][key].drop_duplicates().to_numpy()))
    after = set(map(tuple, ev[ev["event_time"] >= since][key].drop_duplicates().to_numpy()))
    assert set(map(tuple, got[["key", "event_source", "event_name"]].to_numpy())) == after - before
    owner = samples_answers()["leaked_key"]["owner_arn"]
    mine = got[got["key"] == owner]
    assert {"AttachUserPolicy", "CreateAccessKey", "StopLogging"} <= set(mine["event_name"])
    assert not mine["new_principal"].any()
    with pytest.raises(QueryError):
        ac.first_seen_apis(case, since=None)


def test_rare_apis_single_out_one_off_calls():
    case = stratus_case()
    rare = ac.rare_apis(case, max_events=1)
    assert {"StopLogging", "DeleteTrail", "LeaveOrganization"} <= set(rare["event_name"])
    assert (rare["events"] == 1).all() and (rare["actors"] <= 1).all()
    assert "DescribeInstanceInformation" not in set(rare["event_name"])
