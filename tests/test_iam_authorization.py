"""get-account-authorization-details: pages, accounts, URL-encoded documents, effective permissions,
role trust, admin-equivalent principals and escalation primitives."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iamforensics.errors import EvidenceError
from iamforensics.iam import (
    admin_principals,
    effective_permissions,
    load_authorization_details,
    managed_policies,
    principals,
    privileged_principals,
    role_trust,
)
from tests.iam_fixtures import (
    ADMIN,
    BOUNDARY,
    MISSING,
    POLICIES,
    S3_READ,
    USERS_A,
    VENDOR,
    A,
    B,
    page_account_b,
    pages_account_a,
    url_encoded,
    write_details,
)


@pytest.fixture(scope="module")
def details(tmp_path_factory):
    return load_authorization_details(write_details(tmp_path_factory.mktemp("auth")))


def test_pages_and_accounts_merge(details):
    assert details.accounts == [A, B]
    assert len(details.users) == len(USERS_A) + 1
    assert len(details.policies) == len(POLICIES)
    assert len(details.sources) == 3 and not details.notes


def test_url_encoded_documents_decode_to_the_same_objects(tmp_path):
    p1, p2 = pages_account_a()
    plain = load_authorization_details([p1, p2])
    encoded = load_authorization_details([url_encoded(p1), url_encoded(p2)])
    for arn, e in plain.users.items():
        assert encoded.users[arn].inline == e.inline
    for arn, r in plain.roles.items():
        assert encoded.roles[arn].trust == r.trust and r.trust is not None
    for arn, mp in plain.policies.items():
        assert encoded.policies[arn].versions == mp.versions


def test_pages_one_after_another_in_one_file(tmp_path):
    p1, p2 = pages_account_a()
    f = tmp_path / "pages.json"
    f.write_text(json.dumps(p1, indent=1) + "\n" + json.dumps(p2))
    d = load_authorization_details(f)
    assert len(d.users) == len(USERS_A)
    assert d.find("s3test").groups == ["Administrators"]


def test_not_authorization_details_is_an_error_naming_the_file(tmp_path):
    f = tmp_path / "other.json"
    f.write_text('{"Records": []}')
    with pytest.raises(EvidenceError, match="other.json"):
        load_authorization_details(f)
    g = tmp_path / "broken.json"
    g.write_text('{"UserDetailList": [')
    with pytest.raises(EvidenceError, match="broken.json"):
        load_authorization_details(g)


def test_a_changed_copy_of_an_entity_is_noted():
    p = page_account_b()
    q = json.loads(json.dumps(p))
    q["UserDetailList"][0]["GroupList"] = []
    d = load_authorization_details([p, q])
    assert d.find(f"arn:aws:iam::{B}:user/admin").groups == []
    assert len(d.notes) == 1 and "differs" in d.notes[0]


def test_managed_policy_versions_and_default(details):
    mp = managed_policies(details)
    s3 = mp[mp["policy_arn"] == S3_READ]
    assert sorted(s3["version_id"]) == ["v1", "v2"]
    assert s3.set_index("version_id").loc["v2", "is_default"]
    assert details.policies[S3_READ].document == details.policies[S3_READ].versions["v2"]
    assert mp[mp["policy_arn"] == ADMIN]["aws_managed"].all()


def test_principals_frame(details):
    p = principals(details).set_index("arn")
    assert p.loc[f"arn:aws:iam::{A}:user/s3test", "groups"] == ["Administrators"]
    assert p.loc[f"arn:aws:iam::{A}:user/bounded", "permissions_boundary"] == BOUNDARY
    assert p.loc[f"arn:aws:iam::{A}:role/app/ec2-app", "path"] == "/app/"
    assert str(p["create_date"].dtype) == "datetime64[us, UTC]" or "UTC" in str(p["create_date"].dtype)


def test_effective_permissions_of_a_user_come_through_its_groups(details):
    ep = effective_permissions(details)
    s3test = ep[ep["principal_name"] == "s3test"]
    assert list(s3test["via"]) == ["group:Administrators"]
    assert list(s3test["policy_arn"]) == [ADMIN]
    assert s3test.iloc[0]["action"] == ["*"]
    erin = ep[ep["principal_name"] == "erin"]
    assert set(erin["via"]) == {"self", "group:readers"}
    assert set(erin[erin["via"] == "group:readers"]["policy_type"]) == {"inline", "managed"}
    assert erin[erin["conditional"].fillna(False).astype(bool)]["policy"].tolist() == [
        "group:readers/inline:describe-with-mfa"
    ]


def test_effective_permissions_show_boundary_not_action_and_missing_documents(details):
    ep = effective_permissions(details)
    bounded = ep[ep["principal_name"] == "bounded"]
    assert set(bounded["via"]) == {"self", "boundary"}
    dana = ep[ep["principal_name"] == "dana"]
    assert dana["not_action"].dropna().tolist() == [["iam:*", "organizations:*"]]
    frank = ep[ep["principal_name"] == "frank"]
    assert frank["not_resource"].dropna().tolist() == [["arn:aws:s3:::prod-*", "arn:aws:s3:::prod-*/*"]]
    ghost = ep[ep["principal_name"] == "ghost"]
    assert ghost["policy_arn"].tolist() == [MISSING] and ghost["effect"].isna().all()
    assert "not in the details" in ghost["note"].iloc[0]
    # the other account's same-named group holds nothing
    other = ep[ep["principal_arn"] == f"arn:aws:iam::{B}:user/admin"]
    assert other["effect"].isna().all()


def test_role_trust_who_can_assume(details):
    rt = role_trust(details).set_index("role_name")
    vendor = rt.loc["vendor-audit"]
    assert vendor["principal_account"] == VENDOR and bool(vendor["cross_account"])
    assert vendor["external_ids"] == ["ext-123"] and vendor["conditional"]
    assert rt.loc["ec2-app", "principal"] == "ec2.amazonaws.com"
    gh = rt.loc["github-deploy"]
    assert gh["federation_provider"].endswith("oidc-provider/token.actions.githubusercontent.com")
    assert gh["can_assume"] and gh["conditional"]
    assert bool(rt.loc["openrole", "anyone"])
    assert not bool(rt.loc["breakglass", "cross_account"])
    assert rt.loc["deployer", "principal_account"] == A


def test_privileged_principals_and_escalation_primitives(details):
    pp = privileged_principals(details)
    got = {(r.principal_name, r.capability): r.decision for r in pp.itertuples()}
    assert got[("s3test", "full-admin")] == "allowed"
    assert got[("breakglass", "iam-admin")] == "allowed"
    assert got[("erin", "passrole+ec2:RunInstances")] == "partial"  # PassRole on role/app-* only
    assert got[("deployer", "sts:AssumeRole on *")] == "allowed"
    assert got[("deployer", "iam:CreatePolicyVersion")] == "allowed"
    assert ("deployer", "full-admin") not in got
    assert ("bounded", "full-admin") not in got  # the boundary removes it
    assert got[("ghost", "full-admin")] == "unknown"
    assert ("erin", "full-admin") not in got  # partial admin is not reported
    assert ("dana", "iam-admin") not in got and got[("dana", "sts:AssumeRole on *")] == "allowed"
    assert not any(name == "admin" for name, _ in got)  # account B's admin holds nothing
    admins = set(pp[pp["admin"]]["principal_name"])
    assert admins == {"s3test", "breakglass"}


def test_admin_principals_include_root_of_each_account(details):
    ap = admin_principals(details)
    assert set(ap[ap["principal_kind"] != "root"]["principal_name"]) == {"s3test", "breakglass", "ghost"}
    assert ap.set_index("principal_name").loc["ghost", "decision"] == "unknown"
    roots = ap[ap["principal_kind"] == "root"]["principal_arn"].tolist()
    assert roots == [f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:root"]
    s3 = ap.set_index("principal_name").loc["s3test"]
    assert s3["level"] == "full" and "group:Administrators" in s3["granted_by"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=4))
def test_url_encoded_documents_round_trip(document):
    from iamforensics.iam import decode_policy_document

    text = json.dumps(document)
    assert decode_policy_document(text) == document
    assert decode_policy_document(urllib.parse.quote(text)) == document
    assert decode_policy_document(urllib.parse.quote(json.dumps(document, indent=2))) == document
