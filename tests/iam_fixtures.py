"""Hand-written IAM snapshots for the iam tests: two accounts, paged, one page URL-encoded.

Account 111111111111 ("acme"):

- groups: Administrators (AdministratorAccess), developers (power-user: Allow NotAction iam/organizations,
  inline deny of StopLogging/DeleteTrail), readers (s3-read v2 default; inline ec2:Describe* only with MFA).
- users: s3test (no policies of its own, in Administrators), dana (developers), erin (readers, inline PassRole
  on role/app-* and RunInstances), bounded (AdministratorAccess attached + boundary s3-only), frank (inline
  Allow s3:* with a Deny NotResource outside prod buckets; inline policy named "=1+2"), ghost (a customer policy
  missing from the details), varuser (s3 under home/${aws:username}/).
- roles: vendor-audit (account 222222222222 with an ExternalId), ec2-app (ec2 service), github-deploy (OIDC
  provider with a sub condition), breakglass (same-account user, AdministratorAccess), openrole (anyone, with
  a condition), deployer (sts:AssumeRole and iam:CreatePolicyVersion on *).

Account 333333333333: group Administrators WITHOUT policies and user "admin" in it (a same-named group in
another account must not leak permissions).
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

A = "111111111111"
B = "333333333333"
VENDOR = "222222222222"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
S3_READ = f"arn:aws:iam::{A}:policy/s3-read"
BOUNDARY = f"arn:aws:iam::{A}:policy/boundary-s3-only"
POWER = f"arn:aws:iam::{A}:policy/power-user"
MISSING = f"arn:aws:iam::{A}:policy/not-in-snapshot"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def user(
    name: str, account: str = A, groups: list[str] | None = None, inline=None, attached=None, boundary=None
):
    item: dict[str, Any] = {
        "Path": "/",
        "UserName": name,
        "UserId": "AIDA" + name.upper().ljust(16, "X")[:16],
        "Arn": f"arn:aws:iam::{account}:user/{name}",
        "CreateDate": "2023-01-02T03:04:05+00:00",
        "GroupList": groups or [],
        "UserPolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
        "AttachedManagedPolicies": [
            {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached or []
        ],
        "Tags": [{"Key": "team", "Value": "ops"}],
    }
    if boundary:
        item["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": boundary,
        }
    return item


def group(name: str, account: str = A, inline=None, attached=None):
    return {
        "Path": "/",
        "GroupName": name,
        "GroupId": "AGPA" + name.upper().ljust(16, "X")[:16],
        "Arn": f"arn:aws:iam::{account}:group/{name}",
        "CreateDate": "2022-01-01T00:00:00Z",
        "GroupPolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
        "AttachedManagedPolicies": [
            {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached or []
        ],
    }


def role(name: str, trust: dict[str, Any], inline=None, attached=None, path: str = "/"):
    return {
        "Path": path,
        "RoleName": name,
        "RoleId": "AROA" + name.upper().replace("-", "").ljust(16, "X")[:16],
        "Arn": f"arn:aws:iam::{A}:role{path}{name}",
        "CreateDate": "2022-06-01T00:00:00Z",
        "AssumeRolePolicyDocument": trust,
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
        "AttachedManagedPolicies": [
            {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached or []
        ],
        "Tags": [],
        "RoleLastUsed": {"LastUsedDate": "2024-05-01T10:00:00Z", "Region": "eu-west-1"},
    }


def policy(arn: str, versions: dict[str, dict[str, Any]], default: str):
    return {
        "PolicyName": arn.rsplit("/", 1)[-1],
        "PolicyId": "ANPA" + arn.rsplit("/", 1)[-1].upper().replace("-", "").ljust(16, "X")[:16],
        "Arn": arn,
        "Path": "/",
        "DefaultVersionId": default,
        "AttachmentCount": 1,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": "2020-01-01T00:00:00Z",
        "UpdateDate": "2024-01-01T00:00:00Z",
        "PolicyVersionList": [
            {
                "Document": d,
                "VersionId": v,
                "IsDefaultVersion": v == default,
                "CreateDate": "2020-01-01T00:00:00Z",
            }
            for v, d in versions.items()
        ],
    }


def trust(principal: Any, action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


POLICIES = [
    policy(ADMIN, {"v1": doc(allow("*"))}, "v1"),
    policy(
        S3_READ,
        {
            "v1": doc(allow("s3:*")),
            "v2": doc(allow(["s3:Get*", "s3:List*"], ["arn:aws:s3:::data", "arn:aws:s3:::data/*"])),
        },
        "v2",
    ),
    policy(BOUNDARY, {"v1": doc(allow("s3:*"), allow("sts:GetCallerIdentity"))}, "v1"),
    policy(
        POWER,
        {"v1": doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})},
        "v1",
    ),
]

GROUPS_A = [
    group("Administrators", attached=[ADMIN]),
    group(
        "developers",
        attached=[POWER],
        inline={"no-log-tampering": doc(deny(["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"]))},
    ),
    group(
        "readers",
        attached=[S3_READ],
        inline={
            "describe-with-mfa": doc(
                allow("ec2:Describe*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
            )
        },
    ),
]

USERS_A = [
    user("s3test", groups=["Administrators"]),
    user("dana", groups=["developers"]),
    user(
        "erin",
        groups=["readers"],
        inline={
            "passrole-app": doc(
                allow("iam:PassRole", f"arn:aws:iam::{A}:role/app-*"), allow("ec2:RunInstances")
            )
        },
    ),
    user("bounded", attached=[ADMIN], boundary=BOUNDARY),
    user(
        "frank",
        inline={
            "=1+2": doc(
                allow("s3:*"),
                {
                    "Effect": "Deny",
                    "Action": "s3:*",
                    "NotResource": ["arn:aws:s3:::prod-*", "arn:aws:s3:::prod-*/*"],
                },
            )
        },
    ),
    user("ghost", attached=[MISSING]),
    user("varuser", inline={"home": doc(allow("s3:*", "arn:aws:s3:::home/${aws:username}/*"))}),
]

ROLES_A = [
    role(
        "vendor-audit",
        trust(
            {"AWS": f"arn:aws:iam::{VENDOR}:root"}, Condition={"StringEquals": {"sts:ExternalId": "ext-123"}}
        ),
        attached=[S3_READ],
    ),
    role("ec2-app", trust({"Service": "ec2.amazonaws.com"}), inline={"s3": doc(allow("s3:*"))}, path="/app/"),
    role(
        "github-deploy",
        trust(
            {"Federated": f"arn:aws:iam::{A}:oidc-provider/token.actions.githubusercontent.com"},
            "sts:AssumeRoleWithWebIdentity",
            Condition={"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}},
        ),
    ),
    role("breakglass", trust({"AWS": [f"arn:aws:iam::{A}:user/s3test"]}), attached=[ADMIN]),
    role("openrole", trust({"AWS": "*"}, Condition={"StringEquals": {"aws:PrincipalOrgID": "o-123"}})),
    role(
        "deployer",
        trust({"AWS": A}),
        inline={"deploy": doc(allow(["sts:AssumeRole", "iam:CreatePolicyVersion"]))},
    ),
]


def pages_account_a() -> list[dict[str, Any]]:
    """Account A split over two pages, as ``--no-paginate`` output saved one page after another."""
    return [
        {"UserDetailList": USERS_A[:3], "GroupDetailList": GROUPS_A, "RoleDetailList": [], "Policies": [],
         "IsTruncated": True, "Marker": "page2"},
        {"UserDetailList": USERS_A[3:], "GroupDetailList": [], "RoleDetailList": ROLES_A, "Policies": POLICIES,
         "IsTruncated": False},
    ]  # fmt: skip


def url_encoded(page: dict[str, Any]) -> dict[str, Any]:
    """The same page as the raw IAM API returns it: every policy document URL-encoded JSON text."""

    def enc(d: Any) -> str:
        return urllib.parse.quote(json.dumps(d))

    out = json.loads(json.dumps(page))
    for key, lst in (
        ("UserDetailList", "UserPolicyList"),
        ("GroupDetailList", "GroupPolicyList"),
        ("RoleDetailList", "RolePolicyList"),
    ):
        for item in out.get(key, []):
            for p in item.get(lst, []):
                p["PolicyDocument"] = enc(p["PolicyDocument"])
            if "AssumeRolePolicyDocument" in item:
                item["AssumeRolePolicyDocument"] = enc(item["AssumeRolePolicyDocument"])
    for p in out.get("Policies", []):
        for v in p["PolicyVersionList"]:
            v["Document"] = enc(v["Document"])
    return out


def page_account_b() -> dict[str, Any]:
    return {
        "UserDetailList": [user("admin", account=B, groups=["Administrators"])],
        "GroupDetailList": [group("Administrators", account=B)],
        "RoleDetailList": [],
        "Policies": [],
    }


def write_details(tmp_path) -> list:
    """Three files: account A page 1 (plain JSON), page 2 (URL-encoded, after page 1 in a JSON array
    with nothing else), account B (pretty-printed)."""
    p1, p2 = pages_account_a()
    f1 = tmp_path / "auth-a-1.json"
    f1.write_text(json.dumps(p1))
    f2 = tmp_path / "auth-a-2.json"
    f2.write_text(json.dumps([url_encoded(p2)]))
    f3 = tmp_path / "auth-b.json"
    f3.write_text(json.dumps(page_account_b(), indent=2))
    return [f1, f2, f3]


CR_HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
    "cert_2_active,cert_2_last_rotated"
)

#: A credential report of account A as of 2024-05-12, with every column and odd values
#: (upper- and lower-case booleans, offsets other than +00:00, every sentinel, a comma in a user name).
CREDENTIAL_REPORT = "\r\n".join(
    [
        CR_HEADER,
        # root: a key active and used, password used 3 days before as_of, MFA on (upper-case TRUE)
        f"<root_account>,arn:aws:iam::{A}:root,2014-01-01T00:00:00+00:00,not_supported,2024-05-09T02:58:05+00:00,"
        "not_supported,not_supported,TRUE,true,2019-01-01T00:00:00+00:00,2024-05-09T03:00:00+00:00,us-east-1,iam,"
        "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        # s3test: admin via group, console without MFA, two active keys, key 1 old and unused 200 days
        f"s3test,arn:aws:iam::{A}:user/s3test,2023-01-02T03:04:05+00:00,true,2024-05-10T09:00:00+02:00,"
        "2023-01-02T03:04:05+00:00,N/A,false,TRUE,2023-01-02T03:05:00+00:00,2023-10-25T00:00:00+00:00,eu-west-1,s3,"
        "TRUE,2024-05-01T00:00:00+00:00,2024-05-11T00:00:00+00:00,N/A,s3,false,N/A,false,N/A",
        # dana: console with MFA, password never used since tracking (no_information), created long ago
        f"dana,arn:aws:iam::{A}:user/dana,2014-06-01T00:00:00+00:00,True,no_information,2014-06-01T00:00:00+00:00,"
        "N/A,True,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        # erin: no password, one fresh key never used (N/A), a signing certificate
        f"erin,arn:aws:iam::{A}:user/erin,2024-05-01T00:00:00-05:00,false,N/A,N/A,N/A,false,true,"
        "2024-05-01T05:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,true,2024-05-02T00:00:00+00:00,false,N/A",
        # "a,b": a legal IAM name with a comma; never used anything, created 2020
        f'"a,b","arn:aws:iam::{A}:user/a,b",2020-02-02T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,'
        "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        "",
    ]
)


# --- real evidence: the sample scenario, ingested once per test process -----------------------

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@functools.lru_cache(maxsize=1)
def _ingest_samples() -> tuple[str, dict[str, Any]]:
    import yaml

    from iamforensics.ingest import ingest

    answers = yaml.safe_load((SAMPLES / "ANSWERS.yaml").read_text(encoding="utf-8"))
    case_dir = Path(tempfile.mkdtemp(prefix="iam-samples-")) / "case"
    atexit.register(shutil.rmtree, case_dir.parent, True)
    # IAM, STS and sign-in are global services recorded in us-east-1: only those folders are
    # needed for the ledger, which keeps the test fast.
    logs = SAMPLES / "AWSLogs"
    evidence = [str(p) for p in sorted(logs.glob("*/CloudTrail/us-east-1"))]
    evidence += [str(p) for p in sorted(logs.glob("o-*/*/CloudTrail/us-east-1"))]
    ingest(evidence, case_dir, jobs=1)
    return str(case_dir), answers


def sample_case() -> tuple[str, dict[str, Any]]:
    """(case folder, ANSWERS.yaml) for the sample scenario; skips when the samples are absent."""
    if not (SAMPLES / "ANSWERS.yaml").is_file() or not (SAMPLES / "AWSLogs").is_dir():
        pytest.skip("data/samples (the sample scenario) is not present")
    return _ingest_samples()
