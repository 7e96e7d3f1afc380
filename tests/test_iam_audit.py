"""The IAM best-practice audit: one row per check and principal, reproducible with as_of."""

from __future__ import annotations

import pandas as pd
import pytest

from iamforensics.errors import QueryError
from iamforensics.iam import CHECKS, audit, credential_report, load_authorization_details
from tests.iam_fixtures import CREDENTIAL_REPORT, sample_case, write_details

AS_OF = "2024-05-12"


@pytest.fixture(scope="module")
def report():
    return credential_report(CREDENTIAL_REPORT.encode())


@pytest.fixture(scope="module")
def details(tmp_path_factory):
    return load_authorization_details(write_details(tmp_path_factory.mktemp("auth")))


@pytest.fixture(scope="module")
def result(report, details):
    return audit(report, details, as_of=AS_OF)


def status(result, check, principal, credential=None):
    rows = result[(result["check"] == check) & (result["principal"] == principal)]
    if credential is not None:
        rows = rows[rows["credential"] == credential]
    assert len(rows) == 1, (check, principal, credential, rows)
    return rows.iloc[0]["status"]


def test_root_checks(result):
    assert status(result, "root-access-keys", "<root_account>") == "fail"  # key 1 active
    assert status(result, "root-mfa", "<root_account>") == "pass"
    assert status(result, "root-recent-use", "<root_account>") == "fail"  # used 3 days before as_of


def test_root_checks_depend_on_as_of_and_thresholds(report):
    later = audit(report, as_of="2024-08-01")
    assert status(later, "root-recent-use", "<root_account>") == "pass"
    wider = audit(report, as_of="2024-08-01", root_recent_days=120)
    assert status(wider, "root-recent-use", "<root_account>") == "fail"


def test_mfa_checks(result):
    assert status(result, "console-user-without-mfa", "s3test") == "fail"
    assert status(result, "console-user-without-mfa", "dana") == "pass"
    # s3test is admin-equivalent through its group and has no MFA
    assert status(result, "privileged-user-mfa", "s3test") == "fail"
    priv = result[result["check"] == "privileged-user-mfa"]
    assert set(priv["principal"]) == {"s3test"}  # the only admin user in the report
    assert "group:Administrators" in priv.iloc[0]["detail"]


def test_access_key_checks(result):
    assert status(result, "access-key-rotation", "s3test", "access_key_1") == "fail"
    assert status(result, "access-key-rotation", "s3test", "access_key_2") == "pass"
    assert status(result, "access-key-unused", "s3test", "access_key_1") == "fail"  # unused 200 days
    assert status(result, "access-key-unused", "s3test", "access_key_2") == "pass"
    assert status(result, "access-key-unused", "erin", "access_key_1") == "pass"  # new, never used yet
    assert status(result, "two-active-keys", "s3test") == "fail"
    assert status(result, "two-active-keys", "erin") == "pass"
    # inactive keys are not checked at all
    assert result[(result["principal"] == "dana") & result["check"].str.startswith("access-key")].empty


def test_unused_users_and_passwords(result):
    assert status(result, "unused-password", "dana") == "fail"  # no_information since 2014
    assert status(result, "unused-password", "s3test") == "pass"
    assert status(result, "unused-user", "a,b") == "fail"  # never used, created 2020
    assert status(result, "unused-user", "erin") == "pass"  # created 11 days before as_of
    assert status(result, "unused-user", "dana") == "fail"


def test_policies_attached_to_users(result):
    assert status(result, "user-attached-policies", "s3test") == "pass"  # through a group only
    assert status(result, "user-attached-policies", "bounded") == "fail"
    frank = result[(result["check"] == "user-attached-policies") & (result["principal"] == "frank")]
    assert "=1+2" in frank.iloc[0]["detail"]


def test_every_row_is_a_known_check_with_its_severity(result):
    assert set(result["check"]) <= set(CHECKS)
    for r in result.itertuples():
        assert r.severity == CHECKS[r.check][0]
        assert r.status in ("pass", "fail", "warn", "unknown")
    assert not result.duplicated(["check", "principal_arn", "credential"]).any()


def test_without_details_the_detail_checks_say_unknown(report):
    a = audit(report, as_of=AS_OF)
    for check in ("privileged-user-mfa", "user-attached-policies"):
        rows = a[a["check"] == check]
        assert rows["status"].tolist() == ["unknown"] and rows["principal"].isna().all()


def test_as_of_defaults_to_the_generated_time_and_is_required_otherwise(report, tmp_path):
    with pytest.raises(QueryError, match="as_of"):
        audit(report)
    stamped = report.copy()
    stamped["generated_time"] = pd.Timestamp("2024-05-12T00:00:00Z")
    assert audit(stamped).equals(audit(report, as_of=AS_OF))


def test_root_activity_from_the_case():
    """The sample scenario's root sign-ins, found in its CloudTrail (skipped when the samples are absent)."""
    from iamforensics.case import open_case

    case_dir, answers = sample_case()
    case = open_case(case_dir)
    report = credential_report(CREDENTIAL_REPORT.encode())
    root_events = [answers["mfa"]["root_sign_in_without_mfa"], answers["mfa"]["root_sign_in_with_mfa"]]
    last = max(pd.Timestamp(e["time"]) for e in root_events)
    a = audit(report, as_of=last + pd.Timedelta(days=1), case=case)
    row = a[a["check"] == "root-activity-in-cloudtrail"]
    assert row["status"].tolist() == ["fail"]
    assert row.iloc[0]["account_id"] == root_events[0]["account"]
    assert pd.Timestamp(row.iloc[0]["value"]) >= last
    quiet = audit(report, as_of=last + pd.Timedelta(days=60), case=case)
    assert quiet[quiet["check"] == "root-activity-in-cloudtrail"].empty
