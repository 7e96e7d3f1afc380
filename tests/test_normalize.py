"""normalize: one raw record in, one typed row of the v1 schema out, whatever the record holds.

Record shapes follow the reference (shared/docs/cloudtrail-reference.md §3, §5, §6) and the
quirks listed in shared/data/README.md; the real datasets are ingested in test_ingest.py.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iamforensics.normalize import (
    REDACTED,
    classify_ip,
    key_type,
    normalize_records,
    prepare,
    user_agent_family,
)
from iamforensics.schema import COLUMN_NAMES, COLUMNS, EVENTS_SCHEMA

UUID = "3038ebd2-c98a-4c65-9b6e-e22506292313"


def rec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventTime": "2024-05-01T09:00:00Z",
        "eventID": UUID,
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
    }
    base.update(fields)
    return base


def row(record: dict[str, Any] | bytes) -> dict[str, Any]:
    table, rejects = normalize_records([record])
    assert rejects == [], [r.reason for r in rejects]
    assert table.schema.equals(EVENTS_SCHEMA)
    return table.to_pylist()[0]


def rejected(record: dict[str, Any] | bytes) -> str:
    table, rejects = normalize_records([record])
    assert table.num_rows == 0 and len(rejects) == 1
    return rejects[0].reason


# --- userIdentity types -------------------------------------------------------------------


def test_root_console_identity():
    ui = {
        "type": "Root",
        "principalId": "012345678901",
        "arn": "arn:aws:iam::012345678901:root",
        "accountId": "012345678901",
        "accessKeyId": "",
        "userName": "my-alias",
    }
    r = row(rec(userIdentity=ui))
    assert r["user_type"] == "Root"
    assert r["actor"] == "arn:aws:iam::012345678901:root"
    assert r["account_id"] == "012345678901"  # the leading zero survives
    assert r["access_key_id"] is None and r["key_type"] is None  # "" is no key
    assert r["session_name"] is None and r["user_name"] == "my-alias"


def test_root_without_arn_is_named_by_account():
    r = row(rec(userIdentity={"type": "Root", "principalId": "012345678901", "accountId": "012345678901"}))
    assert r["actor"] == "arn:aws:iam::012345678901:root"


def test_iam_user_long_term_key():
    ui = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSER00001",
        "arn": "arn:aws:iam::111122223333:user/ops/alice",
        "accountId": "111122223333",
        "accessKeyId": "AKIAEXAMPLEKEY000001",
        "userName": "alice",
    }
    r = row(rec(userIdentity=ui))
    assert (r["actor"], r["key_type"], r["session_name"]) == (
        "arn:aws:iam::111122223333:user/ops/alice",
        "long-term",
        None,
    )
    assert (r["principal_id"], r["user_name"], r["access_key_id"]) == (
        "AIDAEXAMPLEUSER00001",
        "alice",
        "AKIAEXAMPLEKEY000001",
    )


def test_iam_user_console_session_flattens_session_context():
    ui = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSER00001",
        "arn": "arn:aws:iam::111122223333:user/alice",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLEKEY000002",
        "userName": "alice",
        "sessionContext": {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": "2024-05-01T08:59:00Z", "mfaAuthenticated": "true"},
        },
    }
    r = row(rec(userIdentity=ui, sessionCredentialFromConsole="true"))
    assert r["key_type"] == "temporary"
    assert r["session_issuer_arn"] is None and r["session_issuer_type"] is None  # {} issuer
    assert r["session_creation_date"] == dt.datetime(2024, 5, 1, 8, 59, tzinfo=dt.UTC)
    assert r["mfa_authenticated"] is True
    assert r["session_credential_from_console"] is True


def test_failed_console_login_iam_user_without_arn_gets_rebuilt_actor():
    ui = {"type": "IAMUser", "principalId": "AIDAX", "accountId": "111122223333", "userName": "bob"}
    r = row(rec(userIdentity=ui))
    assert r["actor"] == "arn:aws:iam::111122223333:user/bob"


def test_assumed_role_session():
    ui = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID1234:deploy-42",
        "arn": "arn:aws:sts::111122223333:assumed-role/Deployer/deploy-42",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLEKEY000001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID1234",
                "arn": "arn:aws:iam::111122223333:role/ci/Deployer",
                "accountId": "111122223333",
                "userName": "Deployer",
            },
            "attributes": {"creationDate": "2024-05-01T09:00:00Z", "mfaAuthenticated": "false"},
            "sourceIdentity": "alice",
            "ec2RoleDelivery": "2.0",
        },
    }
    r = row(rec(userIdentity=ui))
    assert r["actor"] == "arn:aws:sts::111122223333:assumed-role/Deployer/deploy-42"
    assert (r["session_name"], r["key_type"]) == ("deploy-42", "temporary")
    assert r["session_issuer_type"] == "Role"
    assert r["session_issuer_arn"] == "arn:aws:iam::111122223333:role/ci/Deployer"  # path kept
    assert r["session_issuer_principal_id"] == "AROAEXAMPLEROLEID1234"
    assert r["session_issuer_account_id"] == "111122223333"
    assert r["session_issuer_user_name"] == "Deployer"
    assert r["mfa_authenticated"] is False
    assert (r["source_identity"], r["ec2_role_delivery"]) == ("alice", "2.0")


def test_assumed_role_session_name_with_slashes_and_colons():
    ui = {
        "type": "AssumedRole",
        "principalId": "AROAX:alice@example.com",
        "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_abc/alice@example.com",
    }
    assert row(rec(userIdentity=ui))["session_name"] == "alice@example.com"


def test_federated_user():
    ui = {
        "type": "FederatedUser",
        "principalId": "111122223333:stratus",
        "arn": "arn:aws:sts::111122223333:federated-user/stratus",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLEKEY000003",
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEUSER00001",
                "arn": "arn:aws:iam::111122223333:user/alice",
                "accountId": "111122223333",
                "userName": "alice",
            },
            "attributes": {"creationDate": "2024-05-01T08:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    r = row(rec(userIdentity=ui))
    assert r["actor"] == "arn:aws:sts::111122223333:federated-user/stratus"
    assert (r["session_name"], r["key_type"], r["session_issuer_type"]) == ("stratus", "temporary", "IAMUser")


def test_aws_service():
    ui = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    r = row(rec(userIdentity=ui, sourceIPAddress="ec2.amazonaws.com", userAgent="ec2.amazonaws.com"))
    assert (r["actor"], r["invoked_by"], r["key_type"]) == ("ec2.amazonaws.com", "ec2.amazonaws.com", None)
    assert (r["ip_class"], r["source_ip"], r["user_agent_family"]) == ("aws-service", None, "service")


@pytest.mark.parametrize("account", ["222233334444", "anonymous", "CloudFront"])
def test_aws_account(account):
    ui = {"type": "AWSAccount", "principalId": "AROAEXAMPLE:sess", "accountId": account}
    r = row(rec(userIdentity=ui))
    assert r["account_id"] == account
    assert r["actor"] == f"account:{account}/AROAEXAMPLE:sess"
    assert r["session_name"] is None  # a reduced foreign view, not our session


def test_identity_center_user():
    ui = {
        "type": "IdentityCenterUser",
        "accountId": "111122223333",
        "arn": "",
        "onBehalfOf": {
            "userId": "94482488-3041-7026-18f3-be45837cd0e4",
            "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-9067230a1c",
        },
        "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE",
    }
    r = row(rec(userIdentity=ui))
    assert r["user_arn"] is None  # "" is no ARN
    assert r["identity_store_user_id"] == "94482488-3041-7026-18f3-be45837cd0e4"
    assert r["identity_store_arn"] == "arn:aws:identitystore::111122223333:identitystore/d-9067230a1c"
    assert r["actor"] == (
        "identitycenter:arn:aws:identitystore::111122223333:identitystore/d-9067230a1c"
        "#94482488-3041-7026-18f3-be45837cd0e4"
    )
    assert json.loads(r["on_behalf_of"]) == ui["onBehalfOf"]
    assert r["credential_id"] == ui["credentialId"]


def test_unknown_anonymous():
    r = row(rec(userIdentity={"type": "Unknown", "principalId": "Anonymous", "accessKeyId": "Unknown"}))
    assert (r["user_type"], r["actor"], r["key_type"]) == ("Unknown", "unknown:Anonymous", "other")


def test_unknown_with_assumed_role_arn_gets_session_name():
    ui = {"type": "Unknown", "arn": "arn:aws:sts::111122223333:assumed-role/R/s1"}
    r = row(rec(userIdentity=ui))
    assert (r["actor"], r["session_name"]) == ("arn:aws:sts::111122223333:assumed-role/R/s1", "s1")


def test_saml_user():
    ui = {
        "type": "SAMLUser",
        "principalId": "SampleUkh1i4+ExamplexL/jEvs=:SamlExample",
        "userName": "SamlExample",
        "identityProvider": "bdGOnTesti4+ExamplexL/jEvs=",
    }
    r = row(rec(userIdentity=ui, eventName="AssumeRoleWithSAML"))
    assert r["actor"] == "samluser:SampleUkh1i4+ExamplexL/jEvs=:SamlExample"
    assert (r["identity_provider"], r["user_name"], r["session_name"]) == (
        "bdGOnTesti4+ExamplexL/jEvs=",
        "SamlExample",
        None,
    )


def test_web_identity_user():
    ui = {
        "type": "WebIdentityUser",
        "principalId": "accounts.google.com:application-id.apps.googleusercontent.com:naeem",
        "userName": "naeem",
        "identityProvider": "accounts.google.com",
    }
    r = row(rec(userIdentity=ui, eventName="AssumeRoleWithWebIdentity"))
    assert r["actor"] == "webidentityuser:" + ui["principalId"]
    assert r["identity_provider"] == "accounts.google.com"


def test_role_persistent_identity():
    # AWS documents the type, not a record: the fields are the documented role shape of
    # sessionIssuer (CloudTrail userIdentity element); a role acting in its own name.
    ui = {
        "type": "Role",
        "principalId": "AROAIDPPEZS35WEXAMPLE",
        "arn": "arn:aws:iam::123456789012:role/service-role/RoleToBeAssumed",
        "accountId": "123456789012",
        "userName": "RoleToBeAssumed",
    }
    r = row(rec(userIdentity=ui, eventSource="ec2.amazonaws.com", eventName="DescribeRegions"))
    assert (r["user_type"], r["actor"], r["user_arn"]) == ("Role", ui["arn"], ui["arn"])
    assert (r["user_name"], r["principal_id"], r["account_id"]) == (
        "RoleToBeAssumed",
        ui["principalId"],
        "123456789012",
    )
    assert (r["session_name"], r["access_key_id"], r["key_type"]) == (None, None, None)  # no session


def test_directory_user():
    # The published example's fields (welldone-cloud/aws-summarize-account-activity
    # cloudtrail_parser.py): a WorkDocs/QuickSight directory user, no principalId, no key.
    ui = {
        "type": "Directory",
        "arn": "arn:aws:ds:us-east-1:112233445566:user/d-0000cafe00/00000000-0000-0000-0000-000000000000",
        "accountId": "112233445566",
        "userName": "user@example.com",
    }
    r = row(rec(userIdentity=ui, eventSource="workdocs.amazonaws.com", eventName="GetDocument"))
    assert (r["user_type"], r["actor"], r["user_arn"]) == ("Directory", ui["arn"], ui["arn"])
    assert (r["user_name"], r["account_id"], r["principal_id"]) == ("user@example.com", "112233445566", None)
    assert (r["session_name"], r["key_type"]) == (None, None)


def test_missing_type_with_invoked_by():
    r = row(
        rec(
            userIdentity={"accountId": "012345678901", "invokedBy": "AWS Internal"},
            eventType="AwsServiceEvent",
        )
    )
    assert r["user_type"] is None
    assert (r["actor"], r["invoked_by"], r["account_id"]) == ("AWS Internal", "AWS Internal", "012345678901")


def test_no_user_identity_at_all():
    r = row(rec(eventSource="ses.amazonaws.com", eventName="SendEmail"))
    assert all(r[c] is None for c in ("user_type", "actor", "account_id", "principal_id", "key_type"))


@pytest.mark.parametrize("ui", [None, "IAMUser", 7, ["x"]])
def test_user_identity_of_the_wrong_type_never_raises(ui):
    r = row(rec(userIdentity=ui))
    assert r["user_type"] is None and r["actor"] is None
    assert json.loads(r["raw"])["userIdentity"] == ui


def test_ids_stay_strings_with_leading_zeros():
    ui = {"type": "AWSAccount", "principalId": "000000000001", "accountId": "000011112222"}
    r = row(rec(userIdentity=ui, recipientAccountId="012345678901"))
    assert (r["account_id"], r["principal_id"], r["recipient_account_id"]) == (
        "000011112222",
        "000000000001",
        "012345678901",
    )
    # Even when an export turned an id into a number, the column is text.
    r = row(rec(recipientAccountId=123456789012))
    assert r["recipient_account_id"] == "123456789012"


# --- timestamps -----------------------------------------------------------------------------

TIMES = [
    ("2024-05-01T09:00:00Z", dt.datetime(2024, 5, 1, 9, 0, 0, tzinfo=dt.UTC)),
    ("2024-05-01T09:00:00.123Z", dt.datetime(2024, 5, 1, 9, 0, 0, 123000, tzinfo=dt.UTC)),
    ("2020-09-14T00:44:23.000Z", dt.datetime(2020, 9, 14, 0, 44, 23, tzinfo=dt.UTC)),
    ("2019-01-01 00:00:00.000000000", dt.datetime(2019, 1, 1, tzinfo=dt.UTC)),
    ("2024-05-01T09:00:00.123456789Z", dt.datetime(2024, 5, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)),
    ("2022-02-08 09:23:37+11:00", dt.datetime(2022, 2, 7, 22, 23, 37, tzinfo=dt.UTC)),
    ("2024-05-01T09:00:00-05:00", dt.datetime(2024, 5, 1, 14, 0, 0, tzinfo=dt.UTC)),
    ("2024-05-01T09:00:00+0530", dt.datetime(2024, 5, 1, 3, 30, 0, tzinfo=dt.UTC)),
    ("2019-01-01 00:00:00", dt.datetime(2019, 1, 1, tzinfo=dt.UTC)),
    ("2022-11-10 16:24:34.000", dt.datetime(2022, 11, 10, 16, 24, 34, tzinfo=dt.UTC)),
    ("1424476529.0", dt.datetime(2015, 2, 20, 23, 55, 29, tzinfo=dt.UTC)),
    ("1424476529", dt.datetime(2015, 2, 20, 23, 55, 29, tzinfo=dt.UTC)),
    (1424476529.0, dt.datetime(2015, 2, 20, 23, 55, 29, tzinfo=dt.UTC)),
    ("1424476529000", dt.datetime(2015, 2, 20, 23, 55, 29, tzinfo=dt.UTC)),
    ("20131102T010628Z", dt.datetime(2013, 11, 2, 1, 6, 28, tzinfo=dt.UTC)),
    ("2021-02-21T23: 46: 28Z", dt.datetime(2021, 2, 21, 23, 46, 28, tzinfo=dt.UTC)),
]


@pytest.mark.parametrize(("value", "expected"), TIMES, ids=[str(t[0]) for t in TIMES])
def test_event_time_variants(value, expected):
    r = row(rec(eventTime=value))
    assert r["event_time"] == expected


@pytest.mark.parametrize(
    ("value", "expected"), TIMES[:6] + TIMES[-2:], ids=[str(t[0]) for t in TIMES[:6] + TIMES[-2:]]
)
def test_session_creation_date_variants(value, expected):
    ui = {"type": "AssumedRole", "sessionContext": {"attributes": {"creationDate": value}}}
    assert row(rec(userIdentity=ui))["session_creation_date"] == expected


def test_mixed_time_forms_in_one_batch_keep_their_rows():
    # The vectorized fast path handles the common form; the others must land on their own rows.
    records = [rec(eventID=f"id-{i}", eventTime=t) for i, (t, _) in enumerate(TIMES)]
    table, rejects = normalize_records(records)
    assert not rejects
    got = dict(zip(table.column("event_id").to_pylist(), table.column("event_time").to_pylist(), strict=True))
    for i, (_, expected) in enumerate(TIMES):
        assert [v for k, v in got.items() if k.startswith(f"id-{i}~")] == [expected]


@pytest.mark.parametrize("missing", [{}, {"eventTime": None}, {"eventTime": ""}, {"eventTime": "  "}])
def test_missing_event_time_is_rejected(missing):
    r = rec()
    del r["eventTime"]
    r.update(missing)
    assert rejected(r) == "missing eventTime"


@pytest.mark.parametrize("value", ["redacted", "...", "<eventTime>", "2024-13-45T99:00:00Z", "yesterday"])
def test_unparseable_event_time_is_rejected_with_the_value(value):
    assert rejected(rec(eventTime=value)) == f"unparseable eventTime {value!r}"


def test_rejects_keep_the_original_record():
    r = rec(eventTime="redacted", responseElements={"credentials": {"sessionToken": "SECRET"}})
    _, rejects = normalize_records([r])
    kept = json.loads(rejects[0].raw)
    assert kept["eventTime"] == "redacted" and kept["eventID"] == UUID


# --- scalars -------------------------------------------------------------------------------


def test_event_version_stays_a_string():
    assert row(rec(eventVersion="1.10"))["event_version"] == "1.10"
    assert row(rec(eventVersion="1.09"))["event_version"] == "1.09"
    # Written as a JSON number (a YAML or CSV loader did it): the literal text is kept.
    data = json.dumps(rec()).replace('"eventVersion": "1.08"', '"eventVersion": 1.10').encode()
    assert b'"eventVersion": 1.10' in data
    assert row(data)["event_version"] == "1.10"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("True", True),
        ("false", False),
        ("FALSE", False),
        (None, None),
    ],
)
def test_booleans_from_bool_or_string(value, expected):
    attrs = {"creationDate": "2024-05-01T09:00:00Z", "mfaAuthenticated": value}
    r = row(
        rec(
            readOnly=value,
            managementEvent=value,
            sessionCredentialFromConsole=value,
            userIdentity={"type": "IAMUser", "sessionContext": {"attributes": attrs}},
        )
    )
    assert r["read_only"] is expected
    assert r["management_event"] is expected
    assert r["session_credential_from_console"] is expected
    assert r["mfa_authenticated"] is expected


def test_booleans_from_bytes_input_take_the_same_path():
    data = json.dumps(
        rec(readOnly="true", userIdentity={"sessionContext": {"attributes": {"mfaAuthenticated": False}}})
    )
    r = row(data.encode())
    assert (r["read_only"], r["mfa_authenticated"]) == (True, False)


def test_wrong_field_types_never_raise():
    r = row(
        rec(
            eventName=12345,
            eventSource=["s3.amazonaws.com"],
            awsRegion={"name": "us-east-1"},
            userIdentity="arn:aws:iam::111122223333:user/alice",
            requestParameters='{"roleArn": "arn:aws:iam::111122223333:role/x", "durationSeconds": 900}',
            responseElements="plain text",
            readOnly="maybe",
            errorCode=None,
        )
    )
    assert r["event_name"] == "12345"
    assert json.loads(r["event_source"]) == ["s3.amazonaws.com"]
    assert json.loads(r["aws_region"]) == {"name": "us-east-1"}
    assert r["user_type"] is None
    # A double-encoded payload is stored as the object it holds; a plain string stays a JSON string.
    assert json.loads(r["request_parameters"]) == {
        "roleArn": "arn:aws:iam::111122223333:role/x",
        "durationSeconds": 900,
    }
    assert json.loads(r["response_elements"]) == "plain text"
    assert r["read_only"] is None


def test_payloads_are_json_text_and_raw_is_compact():
    params = {"bucketName": "b", "Host": "b.s3.amazonaws.com", "nested": {"list": [1, 2.5, None, True]}}
    data = json.dumps(
        rec(requestParameters=params, resources=[{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]),
        indent=2,
    )
    r = row(data.encode())
    assert json.loads(r["request_parameters"]) == params
    assert json.loads(r["resources"]) == [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]
    assert "\n" not in r["raw"] and json.loads(r["raw"]) == json.loads(data)


def test_unknown_keys_survive_in_raw():
    r = row(rec(eventContext={"requestContext": {"a": 1}}, someFutureField={"x": [1, 2]}))
    assert json.loads(r["raw"])["someFutureField"] == {"x": [1, 2]}
    assert json.loads(r["event_context"]) == {"requestContext": {"a": 1}}


def test_large_integers_are_kept_exactly():
    big = 123456789012345678901234567890
    for record in (rec(requestParameters={"n": big}), json.dumps(rec(requestParameters={"n": big})).encode()):
        r = row(record)
        assert json.loads(r["request_parameters"]) == {"n": big}
        assert json.loads(r["raw"])["requestParameters"]["n"] == big
    # The redaction path re-serializes the record: integers must survive it too.
    r = row(json.dumps(rec(requestParameters={"n": big}, responseElements={"sessionToken": "s"})).encode())
    assert json.loads(r["raw"])["requestParameters"]["n"] == big


# --- sessionToken --------------------------------------------------------------------------

STS_RESPONSE = {
    "credentials": {
        "accessKeyId": "ASIAEXAMPLEKEY000009",
        "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLETOKEN==",
        "expiration": "Jul 30, 2024, 9:31:10 PM",
    },
    "assumedRoleUser": {"assumedRoleId": "AROAX:s", "arn": "arn:aws:sts::111122223333:assumed-role/R/s"},
}


@pytest.mark.parametrize("as_bytes", [False, True], ids=["dict", "bytes"])
def test_session_token_redacted_everywhere(as_bytes):
    record = rec(
        eventName="AssumeRole",
        responseElements=STS_RESPONSE,
        additionalEventData={"deep": [{"SessionToken": "SECOND-SECRET"}]},
        requestParameters=json.dumps({"sessiontoken": "THIRD-SECRET"}),  # double-encoded, lower case
    )
    r = row(json.dumps(record).encode() if as_bytes else record)
    text = json.dumps(r, default=str)
    for secret in ("IQoJb3JpZ2luX2VjEXAMPLETOKEN==", "SECOND-SECRET", "THIRD-SECRET"):
        assert secret not in text
    raw = json.loads(r["raw"])
    assert raw["responseElements"]["credentials"]["sessionToken"] == REDACTED
    assert raw["additionalEventData"]["deep"][0]["SessionToken"] == REDACTED
    assert json.loads(r["response_elements"])["credentials"]["sessionToken"] == REDACTED
    # Everything else of the record is as AWS wrote it.
    expected = json.loads(json.dumps(record))
    expected["responseElements"]["credentials"]["sessionToken"] = REDACTED
    expected["additionalEventData"]["deep"][0]["SessionToken"] = REDACTED
    expected["requestParameters"] = json.dumps({"sessiontoken": REDACTED})
    assert raw == expected
    assert json.loads(r["response_elements"])["credentials"]["accessKeyId"] == "ASIAEXAMPLEKEY000009"


def test_empty_session_token_is_left_alone():
    r = row(rec(responseElements={"credentials": {"sessionToken": ""}}))
    assert json.loads(r["raw"])["responseElements"]["credentials"]["sessionToken"] == ""


# --- derived: ip, user agent, key -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ip", "cls"),
    [
        ("203.0.113.7", "203.0.113.7", "private"),  # TEST-NET: not globally routable
        ("8.8.8.8", "8.8.8.8", "public"),
        ("1.2.3.4", "1.2.3.4", "public"),
        ("10.0.0.1", "10.0.0.1", "private"),
        ("172.16.5.4", "172.16.5.4", "private"),
        ("192.168.1.1", "192.168.1.1", "private"),
        ("2600:1f18:4a3:6900::1", "2600:1f18:4a3:6900::1", "public"),
        ("::1", "::1", "private"),
        ("::ffff:10.0.0.1", "10.0.0.1", "private"),
        # IPv6 classes from the ipaddress properties: link-local, ULA fc00::/7, documentation.
        ("fe80::1", "fe80::1", "private"),
        ("fe80::", "fe80::", "private"),
        ("fc00::1", "fc00::1", "private"),
        ("fd12:3456:789a::1", "fd12:3456:789a::1", "private"),
        ("2001:db8::", "2001:db8::", "private"),  # documentation: not globally routable
        ("2001:db8:0:0:0:0:0:7", "2001:db8::7", "private"),
        ("::ffff:81.2.69.161", "81.2.69.161", "public"),
        ("2a05:d018:1234::5", "2a05:d018:1234::5", "public"),
        ("ff02::1", None, "invalid"),  # multicast is never a client address
        ("224.0.0.251", None, "invalid"),
        ("::", None, "invalid"),
        ("::ffff:0.0.0.0", None, "invalid"),
        ("253.252.51.07", None, "invalid"),  # leading-zero octets (stratus, LogLicker)
        ("035.249.253.232", None, "invalid"),
        ("255.090.254.5", None, "invalid"),
        ("0.0.0.0", None, "invalid"),  # TrailDiscover's redaction
        ("AWS Internal", None, "aws-internal"),
        ("AWS Internal/3", None, "aws-internal"),
        ("ec2.amazonaws.com", None, "aws-service"),
        ("cloudtrail.amazonaws.com", None, "aws-service"),
        ("signin.amazonaws.com", None, "aws-service"),
        ("<Attacker source IP>", None, "invalid"),
        ("redacted", None, "invalid"),
        ("", None, None),
    ],
)
def test_ip_classification(value, ip, cls):
    assert classify_ip(value) == (ip, cls)
    r = row(rec(sourceIPAddress=value))
    assert (r["source_ip_address"], r["source_ip"], r["ip_class"]) == (value, ip, cls)


UA_EXAMPLES = [  # cloudtrail-reference.md §6.2, one line per family example
    ("aws-cli/1.16.248 Python/3.4.7 Linux/4.14.133-113.105.amzn2.x86_64 botocore/1.12.239", "aws-cli"),
    (
        "aws-cli/1.29.16 md/Botocore#1.31.16 ua/2.0 os/linux#5.10.184 md/arch#x86_64 lang/python#3.8.17 "
        "md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.31.16",
        "aws-cli",
    ),
    (
        "aws-cli/2.13.5 Python/3.11.4 Linux/4.14.255 exec-env/CloudShell exe/x86_64.amzn.2 prompt/off "
        "command/cloudtrail.start-logging",
        "aws-cli",
    ),
    (
        "Boto3/1.9.164 Python/3.6.8 Linux/4.14 exec-env/AWS_Lambda_python3.6 Botocore/1.12.164 Resource",
        "sdk:python",
    ),
    (
        "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10 lang/python#3.11.10 md/pyimpl#CPython "
        "exec-env/AWS_Lambda_python3.11 cfg/retry-mode#legacy Botocore/1.34.145",
        "sdk:python",
    ),
    ("aws-sdk-go/1.44.260 (go1.20.10; linux; amd64)", "sdk:go"),
    (
        "aws-sdk-go-v2/1.32.3 os/linux lang/go#1.23.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.26.2 m/E,g",
        "sdk:go",
    ),
    (
        "aws-sdk-java/1.12.750 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.412 java/1.8.0_412 "
        "vendor/Oracle_Corporation cfg/retry-mode/standard",
        "sdk:java",
    ),
    (
        "aws-sdk-java/2.46.14 md/io#sync md/http#Apache ua/2.1 api/STS#2.46.x os/Linux#5.10 lang/java#17",
        "sdk:java",
    ),
    (
        "aws-sdk-js/3.632.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#20.18.0 api/connect#3.632.0 "
        "exec-env/AWS_Lambda_nodejs20.x",
        "sdk:js",
    ),
    ("aws-sdk-rust/0.54.1 os/linux lang/rust/1.66.0", "sdk:rust"),
    ("aws-sdk-ruby3/3.171.0 ruby/3.2.0 x86_64-linux", "sdk:ruby"),
    ("Apache-HttpClient/UNAVAILABLE (Java/1.8.0_362)", "other"),
    ("python-requests/2.32.3", "other"),
    ("Python-urllib/3.12", "other"),
    (
        "APN/1.0 HashiCorp/1.0 Terraform/1.4.2 (+https://www.terraform.io) terraform-provider-aws/4.59.0 "
        "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.44.221 (go1.19.6; linux; amd64)",
        "terraform",
    ),
    ("console.amazonaws.com", "console"),
    ("signin.amazonaws.com", "console"),
    ("AWS Internal", "console"),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "console",
    ),
    (
        "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.372]",
        "console",
    ),
    ("AWS Console, aws-sdk-java/1.11.1012 Linux/4.9", "console"),
    ("lambda.amazonaws.com", "service"),
    ("ec2.amazonaws.com", "service"),
    ("cloudtrail.amazonaws.com", "service"),
    ("[Amazon CloudFront]", "service"),
    ("cloudfront.amazonaws.com", "service"),
    ("Coral/Netty4", "service"),
    ("cloudformation.amazonaws.com", "cloudformation"),
    # S3 data events wrap the client UA in brackets; tools append their own suffix.
    ("[aws-cli/2.15.34 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/s3.cp]", "aws-cli"),
    ("[Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#6.1]", "sdk:python"),
    ("aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 exec-env/grimoire_5e8a stratus-red-team_83e1", "sdk:go"),
    ("", "other"),
    # The client a UA starts with wins over a service it names (the sample scenario's
    # "command/cloudformation.describe-stacks"); Terraform names it as "api/cloudformation#".
    (
        "aws-cli/2.15.19 Python/3.11.6 Darwin/23.4.0 exe/x86_64 prompt/off command/cloudformation.describe-stacks",
        "aws-cli",
    ),
    (
        "APN/1.0 HashiCorp/1.0 Terraform/1.8.2 (+https://www.terraform.io) terraform-provider-aws/5.48.0 "
        "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 "
        "md/GOOS#linux md/GOARCH#amd64 api/cloudformation#1.30.4",
        "terraform",
    ),
    ("aws-sdk-go/1.29.7 (go1.13.7; darwin; amd64) APN/1.0 HashiCorp/1.0 Terraform/0.12.24", "terraform"),
]


@pytest.mark.parametrize(("ua", "family"), UA_EXAMPLES, ids=[u[:40] for u, _ in UA_EXAMPLES])
def test_user_agent_family(ua, family):
    assert user_agent_family(ua) == family
    assert row(rec(userAgent=ua))["user_agent_family"] == family


def test_user_agent_family_of_the_sample_cli_calling_cloudformation():
    # Read off the sample scenario's own file, not restated: the CLI calling CloudFormation.
    root = Path(__file__).resolve().parent.parent / "data" / "samples" / "AWSLogs" / "058264710392"
    f = (
        root
        / "CloudTrail/eu-west-1/2024/05/07/058264710392_CloudTrail_eu-west-1_20240507T1010Z_CcznCHrlkSio52EF.json.gz"
    )
    recs = [
        r
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]
        if "cloudformation" in r["userAgent"]
    ]
    assert recs and all(r["userAgent"].startswith("aws-cli/") for r in recs)
    table, rejects = normalize_records(recs)
    assert not rejects and set(table.column("user_agent_family").to_pylist()) == {"aws-cli"}


def test_user_agent_family_absent():
    assert user_agent_family(None) is None
    assert row(rec())["user_agent_family"] is None


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("AKIAEXAMPLEKEY000001", "long-term"),
        ("ASIAEXAMPLEKEY000001", "temporary"),
        ("ABIAX", "other"),
        ("", None),
        (None, None),
    ],
)
def test_key_type(key, kind):
    assert key_type(key) == kind


# --- sign-in ---------------------------------------------------------------------------------


def console_login(**fields: Any) -> dict[str, Any]:
    base = {
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "eventType": "AwsConsoleSignIn",
        "requestParameters": None,
    }
    return rec(**(base | fields))


def test_console_login_success_with_mfa_yes_upper_case():
    r = row(
        console_login(
            responseElements={"ConsoleLogin": "Success"},
            additionalEventData={
                "LoginTo": "https://console.aws.amazon.com/",
                "MobileVersion": "No",
                "MFAUsed": "YES",
            },
        )
    )
    assert (r["login_result"], r["mfa_used"], r["is_error"]) == ("Success", True, False)


def test_console_login_without_mfa():
    r = row(
        console_login(responseElements={"ConsoleLogin": "Success"}, additionalEventData={"MFAUsed": "No"})
    )
    assert (r["login_result"], r["mfa_used"]) == ("Success", False)


def test_console_login_mfa_missing_is_unknown_not_false():
    r = row(console_login(responseElements={"ConsoleLogin": "Success"}, additionalEventData={"LoginTo": "x"}))
    assert (r["login_result"], r["mfa_used"]) == ("Success", None)


def test_console_login_failure_with_error_message():
    r = row(
        console_login(
            responseElements={"ConsoleLogin": "Failure"},
            errorMessage="Failed authentication",
            additionalEventData={"MFAUsed": "Yes"},
            userIdentity={
                "type": "IAMUser",
                "accountId": "111122223333",
                "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
        )
    )
    assert (r["login_result"], r["mfa_used"], r["is_error"]) == ("Failure", True, True)
    assert r["error_message"] == "Failed authentication"


def test_console_login_failure_without_response_elements():
    r = row(console_login(responseElements=None, errorMessage="No username found in supplied account"))
    assert (r["login_result"], r["is_error"]) == ("Failure", True)


def test_other_sign_in_events_and_non_sign_in():
    r = row(console_login(eventName="CheckMfa", responseElements={"CheckMfa": "Success"}))
    assert r["login_result"] == "Success"
    r = row(
        rec(
            eventSource="s3.amazonaws.com",
            eventName="GetObject",
            responseElements={"ConsoleLogin": "Success"},
        )
    )
    assert (r["login_result"], r["mfa_used"]) == (None, None)


def test_is_error_from_error_code():
    assert row(rec(errorCode="AccessDenied", errorMessage="denied"))["is_error"] is True
    assert row(rec())["is_error"] is False


# --- insights and ids ---------------------------------------------------------------------------


def test_insight_record_kept_with_event_category():
    insight = {
        "eventVersion": "1.07",
        "eventTime": "2020-07-21T20:56:00Z",
        "awsRegion": "us-east-1",
        "eventID": "9e0c3fc6-46c0-4b77-b2b5-ef6bd9d26b2b",
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": "838185438692",
        "sharedEventID": "bb8fe5e4-1f8d-4a4a-b0dc-32ab8d5a7b6e",
        "insightDetails": {
            "state": "Start",
            "eventName": "CompleteLifecycleAction",
            "insightType": "ApiCallRateInsight",
        },
    }
    r = row(dict(insight, eventCategory="Insight"))
    assert r["event_category"] == "Insight"
    assert json.loads(r["insight_details"])["insightType"] == "ApiCallRateInsight"
    # Without eventCategory (exports that dropped it), the shape still says Insight.
    assert row(insight)["event_category"] == "Insight"


def test_event_id_rules():
    real = row(rec())["event_id"]
    assert real == UUID
    # Placeholder ids that tools reuse for different events get a content hash suffix...
    a = row(rec(eventID="1", eventName="A"))["event_id"]
    b = row(rec(eventID="1", eventName="B"))["event_id"]
    assert a.startswith("1~") and b.startswith("1~") and a != b
    # ...the same for the same content (so copies of one record still deduplicate).
    assert row(rec(eventID="1", eventName="A"))["event_id"] == a
    # No id at all: a deterministic id from the content.
    no_id = rec()
    del no_id["eventID"]
    s1, s2 = row(no_id)["event_id"], row(dict(no_id))["event_id"]
    assert s1 == s2 and s1.startswith("synthetic-")
    assert row(dict(no_id, eventName="Other"))["event_id"] != s1


def test_not_cloudtrail_is_rejected():
    assert rejected({"foo": "bar", "eventTime": "2024-05-01T09:00:00Z"}).startswith("not a CloudTrail record")
    assert rejected(b"[1, 2]").startswith("invalid JSON record")
    assert rejected(b'{"eventName": ').startswith("invalid JSON record")


def test_invalid_utf8_names_the_byte():
    data = json.dumps(rec(eventName="XX")).encode().replace(b"XX", b"\xff\xfe")
    reason = rejected(data)
    bad_at = data.index(b"\xff")
    assert reason == f"invalid UTF-8 at byte {bad_at} of the record"


def test_provenance_columns():
    t, _ = normalize_records([rec(), rec(eventID="x")], source="s3://b/k.json.gz", source_format="cloudtrail")
    assert t.column("source").to_pylist() == ["s3://b/k.json.gz"] * 2
    assert t.column("source_index").to_pylist() == [0, 1]
    assert t.column("source_format").to_pylist() == ["cloudtrail"] * 2
    assert t.column("fidelity").to_pylist() == ["full"] * 2


def test_prepare_bytes_and_dict_give_the_same_row():
    record = rec(
        userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::1:user/a", "accessKeyId": "AKIAX"},
        readOnly=True,
        requestParameters={"a": [1, {"b": None}]},
    )
    item = prepare(json.dumps(record).encode(), 0)
    assert not hasattr(item, "reason")
    a, b = row(record), row(json.dumps(record).encode())
    assert a == b


# --- hypothesis: never raises ------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
CT_KEYS = sorted({c.path.split(".")[0] for c in COLUMNS if c.path})
UI_KEYS = [
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "sessionContext",
    "onBehalfOf",
    "invokedBy",
]


def _check_table(records: list[Any]) -> Any:
    table, rejects = normalize_records(records)
    assert table.schema.equals(EVENTS_SCHEMA)
    assert table.num_rows + len(rejects) == len(records)
    assert set(table.column_names) == set(COLUMN_NAMES)
    for raw in table.column("raw").to_pylist():
        json.loads(raw)
    return table


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON, max_size=5))
def test_normalize_never_raises_on_arbitrary_json(values):
    _check_table(values)
    _check_table([json.dumps(v).encode() for v in values])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"eventTime": st.one_of(st.just("2024-05-01T09:00:00Z"), JSON)},
            optional={k: st.one_of(JSON, st.text()) for k in CT_KEYS if k != "eventTime"}
            | {
                "userIdentity": st.one_of(
                    JSON,
                    st.dictionaries(st.sampled_from(UI_KEYS), JSON, max_size=6),
                )
            },
        ),
        max_size=5,
    )
)
def test_normalize_never_raises_on_cloudtrail_keys_of_any_type(records):
    table = _check_table(records)
    _check_table([json.dumps(r).encode() for r in records])
    # Whatever survived parses back to the record it came from (sessionToken aside).
    by_index = {i: r for i, r in enumerate(records)}
    for idx, raw in zip(
        table.column("source_index").to_pylist(), table.column("raw").to_pylist(), strict=True
    ):
        if "essionToken" not in json.dumps(by_index[idx]):
            assert json.loads(raw) == json.loads(json.dumps(by_index[idx]))


# --- the README's schema table is generated from schema.COLUMNS ---------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- schema-table:start -->", "<!-- schema-table:end -->"


def schema_table() -> str:
    """The README's column table, from schema.COLUMNS (run this module to print it)."""
    lines = ["| column | type | CloudTrail field | group | meaning |", "|---|---|---|---|---|"]
    for c in COLUMNS:
        typ = {"list<item: string>": "list<string>"}.get(str(c.type), str(c.type))
        path = f"`{c.path}`" if c.path else ""
        lines.append(f"| `{c.name}` | {typ} | {path} | {c.group} | {c.doc.replace('|', '/')} |")
    return "\n".join(lines)


def test_readme_schema_table_matches_schema_py():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "README.md lost its schema table markers"
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == schema_table(), "README schema table is stale: python -m tests.test_normalize > table.md"


if __name__ == "__main__":  # pragma: no cover - the generator for the README table
    print(schema_table())
