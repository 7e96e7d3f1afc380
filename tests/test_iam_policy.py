"""The identity-policy evaluation logic, case by case, and the wildcard matcher."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iamforensics.errors import EvidenceError, IamForensicsError
from iamforensics.iam import (
    evaluate,
    evaluate_documents,
    evaluate_many,
    load_authorization_details,
    parse_statements,
)
from iamforensics.iam.policy import (
    DECISIONS,
    decode_policy_document,
    glob_covers,
    glob_intersects,
    glob_match,
    trust_principals,
    worst,
)
from tests.iam_fixtures import A, B, allow, deny, doc, write_details


def decide(docs, action, resource="*", boundary=None):
    return evaluate_documents(docs, action, resource, boundary=boundary).decision


# --- the three steps: explicit deny, allow, implicit deny ------------------------------------


def test_explicit_deny_wins_over_allow_in_the_same_and_another_policy():
    d1 = doc(allow("s3:*"), deny("s3:DeleteBucket"))
    assert decide([d1], "s3:DeleteBucket") == "denied"
    assert decide([doc(allow("s3:*")), doc(deny("s3:Delete*"))], "s3:DeleteObject") == "denied"
    assert decide([d1], "s3:GetObject") == "allowed"


def test_nothing_matching_is_an_implicit_deny():
    assert decide([doc(allow("s3:GetObject"))], "s3:PutObject") == "implicit-deny"
    assert decide([], "s3:GetObject") == "implicit-deny"


def test_deny_alone_is_explicit_even_without_any_allow():
    assert decide([doc(deny("iam:*"))], "iam:CreateUser") == "denied"


# --- Action / NotAction -----------------------------------------------------------------------


def test_actions_match_case_insensitively():
    assert decide([doc(allow("S3:getobject"))], "s3:GetObject") == "allowed"
    assert decide([doc(allow("s3:GetObject"))], "S3:GETOBJECT") == "allowed"


def test_action_wildcards_star_and_question_mark():
    d = doc(allow(["iam:*User*", "ec2:Describe?nstances"]))
    assert decide([d], "iam:CreateUser") == "allowed"
    assert decide([d], "iam:ListUsers") == "allowed"
    assert decide([d], "iam:CreateRole") == "implicit-deny"
    assert decide([d], "ec2:DescribeInstances") == "allowed"
    assert decide([d], "ec2:DescribeXXnstances") == "implicit-deny"  # ? is exactly one character


def test_not_action_allows_everything_else():
    power = doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})
    assert decide([power], "ec2:RunInstances") == "allowed"
    assert decide([power], "IAM:CreateUser") == "implicit-deny"
    assert decide([power], "organizations:LeaveOrganization") == "implicit-deny"


def test_not_action_deny_denies_everything_else():
    d = doc(allow("*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})
    assert decide([d], "s3:GetObject") == "allowed"
    assert decide([d], "ec2:RunInstances") == "denied"


# --- Resource / NotResource -------------------------------------------------------------------


def test_resources_match_case_sensitively_with_wildcards():
    d = doc(allow("s3:GetObject", ["arn:aws:s3:::data/*", "arn:aws:s3:::log-????/*"]))
    assert decide([d], "s3:GetObject", "arn:aws:s3:::data/a/b.txt") == "allowed"
    assert decide([d], "s3:GetObject", "arn:aws:s3:::Data/a.txt") == "implicit-deny"
    assert decide([d], "s3:GetObject", "arn:aws:s3:::log-2024/x") == "allowed"
    assert decide([d], "s3:GetObject", "arn:aws:s3:::log-24/x") == "implicit-deny"


def test_not_resource_deny_protects_everything_outside_the_list():
    d = doc(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::prod-*"]})
    assert decide([d], "s3:ListBucket", "arn:aws:s3:::prod-1") == "allowed"
    assert decide([d], "s3:ListBucket", "arn:aws:s3:::dev-1") == "denied"


def test_not_resource_allow():
    d = doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret*"})
    assert decide([d], "s3:GetObject", "arn:aws:s3:::public/x") == "allowed"
    assert decide([d], "s3:GetObject", "arn:aws:s3:::secret/x") == "implicit-deny"


# --- conditions and policy variables are never decided -----------------------------------------


def test_conditional_allow_is_conditional_not_allowed():
    d = doc(allow("ec2:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    assert decide([d], "ec2:RunInstances") == "conditional"


def test_conditional_deny_makes_an_allow_conditional():
    d = doc(allow("s3:*"), deny("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert decide([d], "s3:GetObject") == "conditional"


def test_conditional_deny_without_allow_is_still_an_implicit_deny():
    d = doc(deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert decide([d], "s3:GetObject") == "implicit-deny"


def test_unconditional_deny_beats_a_conditional_allow():
    d = doc(allow("s3:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}), deny("s3:GetObject"))
    assert decide([d], "s3:GetObject") == "denied"


def test_policy_variable_in_resource_is_conditional():
    d = doc(allow("s3:*", "arn:aws:s3:::home/${aws:username}/*"))
    assert decide([d], "s3:GetObject", "arn:aws:s3:::home/alice/a") == "conditional"
    assert decide([d], "s3:GetObject", "arn:aws:s3:::other/alice/a") == "implicit-deny"


# --- permissions boundaries intersect ------------------------------------------------------------


def test_boundary_limits_an_admin_to_its_intersection():
    admin, boundary = doc(allow("*")), doc(allow("s3:*"))
    assert decide([admin], "iam:CreateUser", boundary=boundary) == "implicit-deny"
    assert decide([admin], "s3:GetObject", boundary=boundary) == "allowed"


def test_boundary_never_grants_by_itself():
    assert decide([doc(allow("ec2:*"))], "s3:GetObject", boundary=doc(allow("s3:*"))) == "implicit-deny"


def test_boundary_deny_wins_and_boundary_condition_is_reported():
    b = doc(allow("*"), deny("s3:DeleteBucket"))
    assert decide([doc(allow("s3:*"))], "s3:DeleteBucket", boundary=b) == "denied"
    bc = doc(allow("s3:*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}))
    assert decide([doc(allow("s3:*"))], "s3:GetObject", boundary=bc) == "conditional"


# --- wildcard requests (used for admin-equivalence) ---------------------------------------------


def test_wildcard_requests_need_full_coverage():
    assert decide([doc(allow("*"))], "*") == "allowed"
    assert decide([doc(allow("iam:*"))], "iam:*") == "allowed"
    assert decide([doc(allow("iam:*"))], "*") == "partial"
    assert decide([doc(allow("iam:Create*"))], "iam:*") == "partial"
    assert decide([doc(allow("*"), deny("iam:DeleteUser"))], "iam:*") == "partial"
    assert decide([doc(allow("*"), deny("iam:*"))], "iam:*") == "denied"
    power = doc({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
    assert decide([power], "iam:*") == "implicit-deny"
    assert decide([power], "*") == "partial"


# --- documents -----------------------------------------------------------------------------------


def test_documents_as_json_text_url_encoded_and_single_statement_object():
    text = '{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}'
    assert decide([text], "s3:GetObject") == "allowed"
    assert decide(["%7B%22Statement%22%3A%20%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3A%2A%22%2C%20%22Resource%22%3A%20%22%2A%22%7D%7D"], "s3:GetObject") == "allowed"  # fmt: skip
    # CloudTrail sometimes carries raw newlines inside strings (AWS docs example).
    assert decode_policy_document('{"Statement": [{"Sid": "a\nb"}]}')["Statement"][0]["Sid"] == "a\nb"
    with pytest.raises(EvidenceError):
        decode_policy_document("not a policy")
    with pytest.raises(EvidenceError):
        parse_statements('{"Statement": ["x"]}')


def test_worst_is_ordered_by_restriction():
    assert worst("allowed", "conditional") == "conditional"
    assert worst(*DECISIONS) == "denied"


# --- evaluate() over the hand-written snapshot ---------------------------------------------------


@pytest.fixture(scope="module")
def details(tmp_path_factory):
    return load_authorization_details(write_details(tmp_path_factory.mktemp("auth")))


@pytest.mark.parametrize(
    "principal, action, resource, expected, via",
    [
        # s3test has no policy of its own: everything comes from the Administrators group
        (
            "s3test",
            "iam:CreateUser",
            "*",
            "allowed",
            "group:Administrators/managed:arn:aws:iam::aws:policy/AdministratorAccess",
        ),
        ("dana", "ec2:RunInstances", "*", "allowed", "group:developers/managed:"),
        ("dana", "iam:CreateUser", "*", "implicit-deny", ""),
        ("dana", "cloudtrail:StopLogging", "*", "denied", ""),
        ("erin", "s3:GetObject", "arn:aws:s3:::data/x", "allowed", "group:readers/managed:"),
        ("erin", "s3:PutObject", "arn:aws:s3:::data/x", "implicit-deny", ""),
        ("erin", "ec2:DescribeInstances", "*", "conditional", "group:readers/inline:describe-with-mfa"),
        ("erin", "iam:PassRole", f"arn:aws:iam::{A}:role/app-web", "allowed", "inline:passrole-app"),
        ("erin", "iam:PassRole", f"arn:aws:iam::{A}:role/breakglass", "implicit-deny", ""),
        ("bounded", "iam:CreateUser", "*", "implicit-deny", "managed:"),
        ("bounded", "s3:GetObject", "arn:aws:s3:::x/y", "allowed", "boundary:"),
        ("frank", "s3:GetObject", "arn:aws:s3:::prod-1/a", "allowed", "inline:=1+2"),
        ("frank", "s3:GetObject", "arn:aws:s3:::dev/a", "denied", ""),
        ("ghost", "s3:GetObject", "*", "unknown", ""),
        ("varuser", "s3:GetObject", "arn:aws:s3:::home/varuser/a", "conditional", "inline:home"),
        (f"arn:aws:iam::{B}:user/admin", "iam:CreateUser", "*", "implicit-deny", ""),
        (f"arn:aws:sts::{A}:assumed-role/breakglass/sess", "iam:CreateUser", "*", "allowed", "managed:"),
        (f"arn:aws:iam::{A}:role/app/ec2-app", "s3:GetObject", "arn:aws:s3:::b/k", "allowed", "inline:s3"),
        (f"arn:aws:iam::{A}:root", "iam:CreateUser", "*", "allowed", ""),
    ],
)
def test_evaluate_on_the_snapshot(details, principal, action, resource, expected, via):
    d = evaluate(principal, action, resource, details=details)
    assert d.decision == expected
    assert d.granted_by.startswith(via) or d.granted_by.split(";")[-1].startswith(via)
    if expected == "denied":
        assert d.denied_by  # the deny statement is named
    if principal == "bounded" and expected == "implicit-deny":
        assert "not allowed by the permissions boundary" in d.notes
    if principal == "ghost":
        assert any("not-in-snapshot" in n for n in d.notes)


def test_evaluate_unknown_or_ambiguous_principal(details):
    with pytest.raises(IamForensicsError, match="no user"):
        evaluate("nobody", "s3:GetObject", "*", details=details)
    with pytest.raises(IamForensicsError, match="ambiguous"):
        evaluate("Administrators", "s3:GetObject", "*", details=details)  # a group name in both accounts


def test_trust_principals_kinds():
    rows = trust_principals(
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["123456789012", "arn:aws:iam::111111111111:role/x"]},
                "Action": "sts:AssumeRole",
            },
            {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
            {
                "Effect": "Allow",
                "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            },
        ),
        role_account="111111111111",
    )
    assert [(r["principal_type"], r["cross_account"], r["anyone"]) for r in rows] == [
        ("AWS", True, False),
        ("AWS", False, False),
        ("*", None, True),
        ("Federated", None, False),
    ]
    assert rows[3]["federation_provider"] == "cognito-identity.amazonaws.com"


# --- the wildcard matcher ---------------------------------------------------------------------

_ALPHA = st.text(alphabet="ab:*?", max_size=7)
_PLAIN = st.text(alphabet="ab:", max_size=7)


@given(_ALPHA, _PLAIN)
def test_glob_match_agrees_with_fnmatch(pattern, value):
    assert glob_match(pattern, value) == fnmatch.fnmatchcase(value, pattern)


@given(_ALPHA, _PLAIN)
def test_for_concrete_requests_cover_intersect_and_match_agree(pattern, value):
    m = glob_match(pattern, value)
    assert glob_covers(pattern, value) == m
    assert glob_intersects(pattern, value) == m


@given(_ALPHA, _ALPHA, _PLAIN)
def test_intersection_is_sound(a, b, witness):
    # Any string both patterns match proves they intersect.
    if glob_match(a, witness) and glob_match(b, witness):
        assert glob_intersects(a, b)


@given(_ALPHA, _PLAIN, _PLAIN)
def test_cover_of_a_prefix_request_is_sound(pattern, prefix, suffix):
    # A pattern that covers "prefix*" matches every completion of the prefix.
    if glob_covers(pattern, prefix + "*"):
        assert glob_match(pattern, prefix + suffix)


def test_evaluate_many_is_evaluate_on_a_grid(details):
    grid = evaluate_many(details, ["iam:CreateUser", "s3:GetObject"], ["*", "arn:aws:s3:::data/x"])
    assert len(grid) == (len(details.users) + len(details.roles)) * 4
    for r in grid.sample(10, random_state=1).itertuples():
        assert r.decision == evaluate(r.principal, r.action, r.resource, details=details).decision


def test_aws_managed_documents_left_out_of_an_export():
    from tests.iam_fixtures import user

    # A details file without Policies (an export with --filter User): AdministratorAccess and
    # AWSDenyAll have fixed documents and are used, anything else stays unknown.
    d = load_authorization_details(
        {
            "UserDetailList": [
                user("admin", attached=["arn:aws:iam::aws:policy/AdministratorAccess"]),
                user(
                    "fenced",
                    attached=["arn:aws:iam::aws:policy/AdministratorAccess"],
                    boundary="arn:aws:iam::aws:policy/AWSDenyAll",
                ),
                user("other", attached=["arn:aws:iam::aws:policy/AmazonS3FullAccess"]),
            ]
        }
    )
    admin = evaluate("admin", "iam:CreateUser", "*", details=d)
    assert admin.decision == "allowed" and admin.granted_by.endswith("[built-in]")
    assert evaluate("fenced", "s3:GetObject", "*", details=d).decision == "denied"
    assert evaluate("other", "s3:GetObject", "*", details=d).decision == "unknown"


def test_attacker_written_patterns_cannot_hang_the_evaluation():
    # A policy is attacker-writable (PutUserPolicy); "*a*a*a...b" makes a backtracking regex
    # take exponential time on a long "aaaa...". The matcher must stay fast.
    import time

    evil = "*a" * 40 + "b"
    t0 = time.perf_counter()
    assert not glob_match(evil, "a" * 400)
    assert not glob_covers(evil, "a" * 400)
    assert not glob_intersects(evil, "a" * 400)
    assert decide([doc(allow("s3:*", evil))], "s3:GetObject", "a" * 400) == "implicit-deny"
    assert time.perf_counter() - t0 < 2.0
