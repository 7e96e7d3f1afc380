"""Timeline analyses on real evidence (stratus, OTRF, the sample scenario) and edge-case frames."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from iamforensics.analysis import timeline as tl
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


def _frame(records: list[dict]) -> pd.DataFrame:
    table, rejects = normalize_records(records)
    assert not rejects
    return table.to_pandas()


def test_timeline_of_the_stolen_instance_session_in_otrf():
    case = otrf_case()
    raw = otrf_records()
    role = next(r["userIdentity"]["arn"] for r in raw if r["userIdentity"].get("type") == "AssumedRole")
    expected = sorted(r["eventID"] for r in raw if r["userIdentity"].get("arn") == role)
    t = tl.timeline(case, actor=role)
    assert sorted(t["event_id"]) == expected
    assert t["event_time"].is_monotonic_increasing
    assert str(t["event_time"].dt.tz) == "UTC"
    # ListBuckets / ListObjects / GetObject have no readOnly in this export: read by name.
    assert set(t["kind"]) == {"read"}
    assert t["user_agent"].str.contains("Darwin").all()


def test_timeline_filters_match_the_raw_records():
    case = stratus_case()
    errors = tl.timeline(case, errors_only=True)
    raw = [r for t in ("ec2-get-password-data", "ec2-download-user-data") for r in stratus_records(t)]
    assert {r["eventID"] for r in raw if r.get("errorCode")} <= set(errors["event_id"])
    assert (errors["kind"] == "error").all() and errors["error_code"].notna().all()
    writes = tl.timeline(case, read_only=False)
    assert not writes["event_name"].isin(["GetPasswordData", "DescribeInstances"]).any()
    key = "AKIAAM80VXLJF8NPK4VC"
    steal = [
        r
        for r in stratus_records("ec2-steal-instance-credentials")
        if r["userIdentity"].get("accessKeyId") == key
    ]
    assert sorted(tl.timeline(case, access_key_id=key)["event_id"]) == sorted(r["eventID"] for r in steal)
    ip = "18.236.253.47"
    by_ip = tl.timeline(case, source_ip=ip, event_names=["DescribeInstances", "GetCallerIdentity"])
    assert set(by_ip["event_name"]) == {"DescribeInstances", "GetCallerIdentity"}
    one_day = tl.timeline(case, "2024-08-02", "2024-08-03")
    assert (
        one_day["event_time"]
        .between(pd.Timestamp("2024-08-02", tz="UTC"), pd.Timestamp("2024-08-03", tz="UTC"))
        .all()
    )
    with pytest.raises(QueryError):
        tl.timeline(case, columns=["no_such_column"])


def test_case_and_dataframe_give_the_same_answers():
    case = stratus_case()
    frame = case.events()
    pd.testing.assert_frame_equal(tl.timeline(case), tl.timeline(frame), check_dtype=False)
    pd.testing.assert_frame_equal(tl.actor_summary(case), tl.actor_summary(frame), check_dtype=False)
    pd.testing.assert_frame_equal(tl.what_changed(case), tl.what_changed(frame), check_dtype=False)


def test_actor_summary_of_the_get_password_data_role():
    raw = stratus_records("ec2-get-password-data")
    case = stratus_case("ec2-get-password-data")
    s = tl.actor_summary(case).set_index("actor")
    for arn in {r["userIdentity"]["arn"] for r in raw}:
        mine = [r for r in raw if r["userIdentity"]["arn"] == arn]
        row = s.loc[arn]
        assert row["events"] == len(mine)
        assert row["errors"] == sum(1 for r in mine if r.get("errorCode"))
        assert row["apis"] == len({r["eventName"] for r in mine})
        assert row["source_ips"] == len({r["sourceIPAddress"] for r in mine})
        assert row["first_seen"] == pd.Timestamp(min(r["eventTime"] for r in mine))
        assert row["error_rate"] == pytest.approx(row["errors"] / row["events"])
    assert s["events"].sum() == len(raw)


def test_what_changed_names_trails_users_and_roles():
    case = stratus_case()
    changed = tl.what_changed(case)
    for technique, event in (("cloudtrail-stop", "StopLogging"), ("cloudtrail-delete", "DeleteTrail")):
        (rec,) = stratus_records(technique)
        row = changed[changed["event_names"].str.contains(event)]
        assert row["resource_type"].tolist() == ["AWS::CloudTrail::Trail"]
        assert row["resource"].tolist() == [rec["requestParameters"]["name"]]
    admin = stratus_records("iam-create-admin-user")
    user = next(r["requestParameters"]["userName"] for r in admin if r["eventName"] == "CreateUser")
    row = changed[(changed["resource"] == user) & (changed["resource_type"] == "AWS::IAM::User")].iloc[0]
    assert set(row["event_names"].split(", ")) == {r["eventName"] for r in admin}
    assert row["events"] == len(admin)
    # Reads never appear, and nothing failed unless asked.
    assert not changed["event_names"].str.contains("DescribeInstances|GetPasswordData").any()
    assert (changed["failed"] == 0).all()
    failed = tl.what_changed(case, include_failed=True)
    assert failed["failed"].sum() > 0


def test_what_changed_uses_the_resources_list():
    case = samples_case()
    puts = case.events(event_names="PutObject", columns=["event_id", "resources"])
    expected = {
        r["ARN"]
        for text in puts["resources"].dropna()
        for r in json.loads(text)
        if r.get("type") == "AWS::S3::Object"
    }
    changed = tl.what_changed(case)
    objects = changed[(changed["named_by"] == "resources") & (changed["resource_type"] == "AWS::S3::Object")]
    assert expected and set(objects["resource"]) == expected
    assert (objects["event_names"] == "PutObject").all()


def test_nothing_changed_in_the_otrf_exfiltration():
    # Browsing, AssumeRole by EC2 and S3 reads only: CloudTrail marks all of these read-only,
    # and this export has no readOnly field, so the event names decide.
    case = otrf_case()
    assert tl.what_changed(case).empty
    assert set(tl.timeline(case)["kind"]) == {"read"}
    assert len(otrf_records()) == len(tl.timeline(case))


def test_what_changed_survives_odd_payloads():
    base = {
        "eventVersion": "1.08",
        "eventTime": "2024-01-01T00:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "1.2.3.4",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111111111111:user/a",
            "accountId": "111111111111",
        },
    }
    records = [
        {**base, "eventID": "00000000-0000-0000-0000-000000000001", "resources": {"not": "a list"},
         "requestParameters": {"userName": "victim"}},
        {**base, "eventID": "00000000-0000-0000-0000-000000000002", "eventName": "DoSomething",
         "requestParameters": "not json at all"},
        {**base, "eventID": "00000000-0000-0000-0000-000000000003", "eventName": "DescribeThing"},
    ]  # fmt: skip
    changed = tl.what_changed(_frame(records))
    assert set(zip(changed["resource_type"], changed["resource"], strict=True)) == {
        ("AWS::IAM::User", "victim"),
        ("(not named)", "DoSomething"),
    }


def test_hourly_activity_and_event_rate_count_every_event():
    case = stratus_case()
    n = len(case)
    hours = tl.hourly_activity(case)
    assert hours["events"].sum() == n and hours["hour"].between(0, 23).all()
    rate = tl.event_rate(case, freq="1d")
    assert rate["events"].sum() == n
    assert (rate["reads"] + rate["writes"] + rate["errors"] == rate["events"]).all()
    assert (rate["bucket"].diff().dropna() == pd.Timedelta("1D")).all()  # empty days filled
    assert rate["errors"].sum() == len(tl.timeline(case, errors_only=True))
    with pytest.raises(QueryError):
        tl.event_rate(case, freq="1 fortnight; DROP TABLE events")


def test_marked_events_find_the_logging_changes():
    case = stratus_case()
    marks = tl.marked_events(case)
    assert {"StopLogging", "DeleteTrail", "PutEventSelectors", "DeleteFlowLogs"} <= set(marks["event_name"])
    answers = samples_answers()
    scenario = tl.marked_events(samples_case())
    logging = answers["logging"]
    assert logging["stop_logging"]["event_id"] in set(scenario["event_id"])
    assert logging["put_event_selectors"]["event_id"] in set(scenario["event_id"])
    assert answers["mfa"]["deactivated"]["event_id"] in set(scenario["event_id"])


def test_actor_summary_finds_the_leaked_key_owner_in_the_scenario():
    answers = samples_answers()
    case = samples_case()
    owner = answers["leaked_key"]["owner_arn"]
    s = tl.actor_summary(case, "2024-05-08", "2024-05-11").set_index("actor")
    ips = {i["ip"] for i in answers["attacker_ips"]}
    assert s.loc[owner, "source_ips"] >= len(
        ips & set(tl.timeline(case, "2024-05-08", "2024-05-11", actor=owner)["source_ip_address"])
    )
    assert s.loc[owner, "errors"] >= len(answers["access_denied_burst"])
