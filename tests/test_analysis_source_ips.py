"""Source-IP analyses on real evidence: the OTRF attacker address, stolen instance credentials
in stratus, anonymised invalid addresses, and the scenario's attacker IPs, countries and ASNs."""

from __future__ import annotations

import ipaddress

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamforensics.analysis import source_ips as si
from iamforensics.errors import QueryError
from iamforensics.normalize import normalize_records
from tests.analysis_helpers import (
    otrf_case,
    otrf_records,
    samples_answers,
    samples_case,
    stratus_case,
    stratus_records,
)

CLASSES = {"public", "private", "aws-service", "aws-internal", "ipv6", "invalid", None}


def test_classify_edge_cases():
    cases = {
        "5.188.10.77": "public",
        "10.1.2.3": "private",
        "172.16.0.9": "private",
        "035.249.253.232": "invalid",  # leading zeros (stratus anonymisation)
        "253.252.51.07": "invalid",
        "<Attacker source IP>": "invalid",
        "redacted": "invalid",
        "0.0.0.0": "invalid",
        "AWS Internal": "aws-internal",
        "AWS Internal/3": "aws-internal",
        "ec2.amazonaws.com": "aws-service",
        "2600:1f18:4a3:6902::1": "ipv6",
        "::ffff:81.2.69.161": "public",  # an IPv4 client written as IPv6
        "": None,
        None: None,
    }
    for value, expected in cases.items():
        assert si.classify(value) == expected, value


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.ip_addresses().map(str)))
def test_classify_never_raises(value):
    assert si.classify(value) in CLASSES


def test_otrf_attacker_address_is_shared_by_the_admin_and_the_stolen_session():
    case = otrf_case()
    raw = otrf_records()
    summary = si.ip_summary(case).set_index("source_ip_address")
    # Every non-service address is anonymised to one value: the kit must not split or drop it.
    public = {r["sourceIPAddress"] for r in raw if not r["sourceIPAddress"].endswith("amazonaws.com")}
    assert len(public) == 1
    (ip,) = public
    row = summary.loc[ip]
    arns = {r["userIdentity"].get("arn") for r in raw if r["sourceIPAddress"] == ip}
    assert set(row["actor_list"]) == arns and row["actors"] == len(arns) == 2
    assert row["events"] == sum(1 for r in raw if r["sourceIPAddress"] == ip)
    assert any("Darwin" in ua for ua in row["user_agent_list"])  # the attacker's laptop
    assert row["user_agents"] == len({r["userAgent"] for r in raw if r["sourceIPAddress"] == ip})
    inst = si.instance_credential_use(case)
    (use,) = inst.to_dict("records")
    assert use["actor"].startswith("arn:aws:sts::") and "/i-" in use["actor"]
    assert use["source_ip_address"] == ip and use["shared_with_principals"]
    assert use["other_principals"] == sorted(arns - {use["actor"]})


def test_stratus_instance_credentials_used_from_the_attackers_address():
    raw = stratus_records("ec2-steal-instance-credentials")
    stolen = [r for r in raw if (r["userIdentity"].get("sessionContext") or {}).get("ec2RoleDelivery")]
    assert stolen
    inst = si.instance_credential_use(stratus_case())
    row = inst[inst["actor"] == stolen[0]["userIdentity"]["arn"]].iloc[0]
    assert row["source_ip_address"] == stolen[0]["sourceIPAddress"]
    assert row["ip_class"] == "public" and row["events"] == len(stolen)
    users = {r["userIdentity"]["arn"] for r in raw if r["userIdentity"]["type"] == "IAMUser"
             and r["sourceIPAddress"] == row["source_ip_address"]}  # fmt: skip
    assert row["shared_with_principals"] and set(row["other_principals"]) == users
    assert set(row["event_names"].split(", ")) == {r["eventName"] for r in stolen}


def test_invalid_addresses_are_summarised_not_enriched():
    case = stratus_case()
    summary = si.ip_summary(case)
    assert summary["events"].sum() == len(case)
    bad = summary[summary["ip_class"] == "invalid"]
    assert len(bad) and bad["ip"].isna().all() and bad["country_code"].isna().all()
    assert "035.249.253.232" in set(bad["source_ip_address"])
    good = summary[summary["ip_class"] == "public"]
    assert good["country_code"].notna().any()
    for ip in good["ip"]:
        assert ipaddress.ip_address(ip).is_global


def test_scenario_attacker_ips_with_country_and_asn():
    answers = samples_answers()
    case = samples_case()
    summary = si.ip_summary(case).set_index("source_ip_address")
    for a in answers["attacker_ips"]:
        row = summary.loc[a["ip"]]
        assert (row["country_code"], row["country"], row["asn_name"]) == (
            a["country_code"],
            a["country"],
            a["asn_name"],
        )
        assert row["first_seen"] == pd.Timestamp(a["first_seen"])
        assert row["last_seen"] == pd.Timestamp(a["last_seen"])
        assert row["events"] == a["events"]
    countries = si.geo_summary(case).set_index("key")
    for a in answers["attacker_ips"]:
        assert countries.loc[a["country_code"], "first_seen"] <= pd.Timestamp(a["first_seen"])
    asns = si.geo_summary(case, by="asn")
    assert {a["asn_name"] for a in answers["attacker_ips"]} <= set(asns["key"])
    with pytest.raises(QueryError):
        si.geo_summary(case, by="city")


def test_new_country_and_asn_for_the_leaked_key_owner():
    answers = samples_answers()
    case = samples_case()
    owner = answers["leaked_key"]["owner_arn"]
    new = si.new_for_actor(case, since="2024-05-08")
    mine = new[new["actor"] == owner]
    used = set(case.events(actor=owner, columns=["source_ip_address"])["source_ip_address"])
    attacker = [a for a in answers["attacker_ips"] if a["ip"] in used]
    assert attacker
    for a in attacker:
        assert a["ip"] in set(mine.loc[mine["kind"] == "ip", "value"])
        assert a["country_code"] in set(mine.loc[mine["kind"] == "country", "value"])
        assert a["asn_name"] in set(mine.loc[mine["kind"] == "asn", "value"])
    # The owner's own countries (the legitimate addresses) are not new.
    legit = {i["country_code"] for i in answers["legitimate_ips"] if "country_code" in i and i["ip"] in used}
    assert not legit & set(mine.loc[mine["kind"] == "country", "value"])
    first = mine[mine["kind"] == "country"]["first_seen"].min()
    assert first == pd.Timestamp(answers["first_malicious_event"]["time"])


def test_impossible_travel_between_the_attackers_countries():
    answers = samples_answers()
    trips = si.impossible_travel(samples_case())
    owner = answers["leaked_key"]["owner_arn"]
    mine = trips[trips["actor"] == owner]
    assert len(mine) >= 1
    trip = mine.iloc[0]
    countries = {a["country_code"] for a in answers["attacker_ips"]}
    assert {trip["from_country"], trip["to_country"]} <= countries
    assert trip["speed_kmh"] > 1000 and trip["distance_km"] >= 500
    assert (trips["impossible"]).all()
    moves = si.impossible_travel(samples_case(), all_moves=True)
    assert len(moves) >= len(trips) and (~moves["impossible"]).any()


def test_impossible_travel_thresholds_on_a_hand_built_frame():
    def rec(n: int, t: str, ip: str) -> dict:
        return {
            "eventVersion": "1.08", "eventID": f"00000000-0000-0000-0000-{n:012d}", "eventTime": t,
            "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity", "awsRegion": "us-east-1",
            "sourceIPAddress": ip,
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/u", "accountId": "111111111111"},
        }  # fmt: skip

    london, paris, sydney = "81.2.69.161", "193.252.0.1", "1.2.3.4"
    records = [
        rec(1, "2024-01-01T10:00:00Z", london),
        rec(2, "2024-01-01T12:00:00Z", paris),  # ~1,000 km in 2 h: possible
        rec(3, "2024-01-01T13:00:00Z", sydney),  # ~16,000 km in 1 h: not
        rec(4, "2024-01-01T13:00:30Z", "035.249.253.232"),  # invalid: no place, no move
    ]
    table, _ = normalize_records(records)
    frame = table.to_pandas()
    moves = si.impossible_travel(frame, all_moves=True)
    assert moves[["from_ip", "to_ip", "impossible"]].values.tolist() == [
        [london, paris, False],
        [paris, sydney, True],
    ]
    assert si.impossible_travel(frame, max_speed_kmh=50_000).empty
    assert si.impossible_travel(frame, min_distance_km=20_000).empty
