"""The fictional organization of the sample evidence: accounts, principals, addresses, and record builders.

Everything random comes from :func:`rng` (``random.Random`` seeded with a string), so a seed
gives the same ids on every run and platform, and every part of the week can be generated
independently of the others (what lets ``--scale 1000`` stream hour by hour).

The record builders follow the shapes in ``cloudtrail-reference.md`` (§2-6): userIdentity per
type, sessionContext with the role path only in ``sessionIssuer.arn``, ``creationDate`` in
ISO form, ``mfaAuthenticated`` as a string, STS credentials with Java-locale expirations.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

#: 2024-05-06T00:00:00Z, a Monday: the first day of the sample week.
BASE = 1714953600
DAY = 86400
HOUR = 3600

ORG_ID = "o-7f3kq2xw9d"
PROD = "058264710392"  # leading zero on purpose: account ids are strings
DEV = "210987654321"
VENDOR = "464622532012"  # the monitoring vendor's account (not in the evidence)
OUTSIDE = "739275464182"  # the attacker's own account (not in the evidence)
ALIASES = {PROD: "acme-prod", DEV: "acme-dev"}
REGIONS = ("us-east-1", "eu-west-1", "eu-west-2", "us-west-2")
HOME = "eu-west-1"
IDC_REGION = "eu-west-2"

OFFICE_IP = "81.2.69.161"  # GB, Andrews & Arnold
HOME_IPS = {"dave": "86.143.2.7", "alice": "86.143.2.7", "bob": "73.162.10.20"}  # GB BT, US Comcast
VENDOR_IPS = ("3.91.200.10", "3.91.200.77", "54.86.10.20")  # US, AMAZON-AES
GITHUB_IPS = ("20.42.10.5", "20.42.11.93", "52.168.20.1", "140.82.112.3")  # US, Microsoft / GitHub
LAMBDA_IPS = {"eu-west-1": ("3.250.12.7", "54.229.40.11"), "us-west-2": ("44.226.1.5",)}  # AWS
EC2_IPS = ("52.16.77.3", "34.240.5.9", "34.240.5.10")  # instance EIPs, eu-west-1

CLI_UA = (
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-28-generic md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
    "md/distrib#ubuntu.22 md/prompt#off md/command#{command}"
)
MAC_CLI_UA = "aws-cli/2.15.19 Python/3.11.6 Darwin/23.4.0 exe/x86_64 prompt/off command/{command}"
ATTACKER_UA = (
    "aws-cli/2.13.25 Python/3.11.5 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off command/{command}"
)
ATTACKER_BOTO = (
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#6.6.9-amd64 md/arch#x86_64 lang/python#3.11.8 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84"
)
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
MAC_BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15"
)
ATTACKER_BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
LAMBDA_UA = (
    "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.219-229.866.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.3 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
    "Botocore/1.34.145"
)
SSM_UA = "aws-sdk-go/1.50.10 (go1.21.8; linux; amd64) amazon-ssm-agent/3.3.380.0"
VENDOR_UA = "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/{api}#1.30.4"
TERRAFORM_UA = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.8.2 (+https://www.terraform.io) terraform-provider-aws/5.48.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1 os/linux "
    "lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/{api}#1.30.4"
)
S3_CONSOLE_UA = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.688 Linux/5.10.215 OpenJDK_64-Bit_Server_VM]"
)


def rng(*parts: object) -> random.Random:
    """A ``random.Random`` for one named part of the world (string seeds hash with SHA-512)."""
    return random.Random("|".join(str(p) for p in parts))


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def key_id(r: random.Random, prefix: str, n: int = 16) -> str:
    """An AWS unique id: prefix (AKIA, ASIA, AIDA, AROA...) + base32 characters."""
    return prefix + "".join(r.choice(_B32) for _ in range(n))


def uid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def s3_request_id(r: random.Random) -> str:
    return "".join(r.choice("0123456789ABCDEF") for _ in range(16))


def session_token(r: random.Random) -> str:
    # Real tokens are 400-1000 characters; a shorter one keeps the committed sample small.
    return "IQoJb3JpZ2luX2VjE" + "".join(r.choice(_B64) for _ in range(147)) + "="


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def java_time(t: float) -> str:
    """STS/IAM payload times: ``May 8, 2024, 3:44:12 AM`` (Java locale, implicitly UTC)."""
    g = time.gmtime(t)
    hour = g.tm_hour % 12 or 12
    return (
        f"{time.strftime('%b', g)} {g.tm_mday}, {g.tm_year}, {hour}:{g.tm_min:02d}:{g.tm_sec:02d} "
        f"{'AM' if g.tm_hour < 12 else 'PM'}"
    )


@dataclass(frozen=True)
class User:
    account: str
    name: str
    user_id: str
    key: str  # the user's long-term access key (AKIA...)
    path: str = "/"
    mfa: str | None = None  # MFA device ARN

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"


@dataclass(frozen=True)
class Role:
    account: str
    name: str
    role_id: str
    path: str = "/"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"

    def session_arn(self, session: str) -> str:
        # assumed-role ARNs drop the role path; only sessionIssuer.arn keeps it
        return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{session}"

    def issuer(self) -> Record:
        return {
            "type": "Role",
            "principalId": self.role_id,
            "arn": self.arn,
            "accountId": self.account,
            "userName": self.name,
        }


@dataclass(frozen=True)
class Session:
    """Temporary credentials: who holds them and how they were issued."""

    key: str
    token: str
    created: int
    expires: int
    role: Role | None = None
    name: str = ""  # role session name / federated user name
    user: User | None = None  # IAM user sessions (console, GetSessionToken, federation issuer)
    mfa: bool = False
    federated: bool = False
    ec2: bool = False
    source_identity: str | None = None
    on_behalf_of: Record | None = None
    in_scope_of: Record | None = None
    web_id: Record | None = None


@dataclass(eq=False)  # hashed by identity: plans are cached per world
class World:
    """Every principal of the sample organization, with ids derived from the seed."""

    seed: int
    users: dict[tuple[str, str], User] = field(default_factory=dict)
    roles: dict[tuple[str, str], Role] = field(default_factory=dict)

    def user(self, account: str, name: str) -> User:
        return self.users[(account, name)]

    def role(self, account: str, name: str) -> Role:
        return self.roles[(account, name)]


USERS = (
    (PROD, "alice", "/admins/", True),
    (PROD, "dave", "/developers/", True),
    (PROD, "frank", "/finance/", True),
    (PROD, "grace", "/developers/", False),
    (PROD, "svc-backup", "/service/", False),
    (PROD, "erin", "/developers/", False),
    (DEV, "dave", "/", False),
)
ROLES = (
    (PROD, "SecurityAuditVendor", "/external/"),
    (DEV, "SecurityAuditVendor", "/external/"),
    (PROD, "web-app", "/app/"),
    (DEV, "web-app", "/app/"),
    (PROD, "order-processor-exec", "/service-role/"),
    (PROD, "nightly-report-exec", "/service-role/"),
    (DEV, "thumbnailer-exec", "/service-role/"),
    (DEV, "github-deploy", "/ci/"),
    (PROD, "deploy", "/ci/"),
    (DEV, "OrganizationAccountAccessRole", "/"),
    (DEV, "dev-data-admin", "/data/"),
    (DEV, "CrossAccountAdmin", "/admin/"),
    (PROD, "break-glass-admin", "/admin/"),
    (PROD, "AWSServiceRoleForConfig", "/aws-service-role/config.amazonaws.com/"),
    (DEV, "AWSServiceRoleForConfig", "/aws-service-role/config.amazonaws.com/"),
    (
        PROD,
        "AWSReservedSSO_AdministratorAccess_5d2a1c8f3b9e7a41",
        f"/aws-reserved/sso.amazonaws.com/{IDC_REGION}/",
    ),
    (
        DEV,
        "AWSReservedSSO_AdministratorAccess_9c4e0b7d2f1a6e38",
        f"/aws-reserved/sso.amazonaws.com/{IDC_REGION}/",
    ),
    (PROD, "ops-support-readonly", "/"),  # created by the attacker (backdoor)
    # appended last: ids are drawn in this order, so earlier roles keep theirs
    (PROD, "inventory-reader", "/service-role/"),  # acts as a Role identity (.rare_identities)
)
SSO_ROLE = {
    PROD: "AWSReservedSSO_AdministratorAccess_5d2a1c8f3b9e7a41",
    DEV: "AWSReservedSSO_AdministratorAccess_9c4e0b7d2f1a6e38",
}


def build_world(seed: int) -> World:
    r = rng(seed, "world")
    w = World(seed)
    for account, name, path, mfa in USERS:
        w.users[(account, name)] = User(
            account,
            name,
            key_id(r, "AIDA", 17),
            key_id(r, "AKIA"),
            path,
            f"arn:aws:iam::{account}:mfa/{name}" if mfa else None,
        )
    for account, name, path in ROLES:
        w.roles[(account, name)] = Role(account, name, key_id(r, "AROA", 17), path)
    return w


# --- userIdentity builders (§3) -------------------------------------------------------------


def ident_user(u: User, s: Session | None = None, *, key: str | None = None) -> Record:
    d: Record = {
        "type": "IAMUser",
        "principalId": u.user_id,
        "arn": u.arn,
        "accountId": u.account,
        "accessKeyId": key if key is not None else (s.key if s else u.key),
        "userName": u.name,
    }
    if s is not None:
        d["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(s.created), "mfaAuthenticated": _tf(s.mfa)},
        }
    return d


def ident_role(s: Session, *, key: str | None = None) -> Record:
    assert s.role is not None
    ctx: Record = {
        "sessionIssuer": s.role.issuer(),
        "webIdFederationData": s.web_id or {},
        "attributes": {"creationDate": iso(s.created), "mfaAuthenticated": _tf(s.mfa)},
    }
    if s.source_identity:
        ctx["sourceIdentity"] = s.source_identity
    if s.ec2:
        ctx["ec2RoleDelivery"] = "2.0"
    d: Record = {
        "type": "AssumedRole",
        "principalId": f"{s.role.role_id}:{s.name}",
        "arn": s.role.session_arn(s.name),
        "accountId": s.role.account,
        "accessKeyId": s.key if key is None else key,
        "sessionContext": ctx,
    }
    if s.in_scope_of:
        d["inScopeOf"] = s.in_scope_of
    if s.on_behalf_of:
        d["onBehalfOf"] = s.on_behalf_of
    return d


def ident_federated(s: Session) -> Record:
    assert s.user is not None
    acct = s.user.account
    return {
        "type": "FederatedUser",
        "principalId": f"{acct}:{s.name}",
        "arn": f"arn:aws:sts::{acct}:federated-user/{s.name}",
        "accountId": acct,
        "accessKeyId": s.key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": s.user.user_id,
                "arn": s.user.arn,
                "accountId": acct,
                "userName": s.user.name,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(s.created), "mfaAuthenticated": "false"},
        },
    }


def ident_root(account: str, key: str = "", s: Session | None = None) -> Record:
    d: Record = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": key,
        "userName": ALIASES.get(account, account),
    }
    if s is not None:
        d["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(s.created), "mfaAuthenticated": _tf(s.mfa)},
        }
    return d


def ident_service(service: str) -> Record:
    return {"type": "AWSService", "invokedBy": service}


def ident_account(principal_id: str, account: str) -> Record:
    return {"type": "AWSAccount", "principalId": principal_id, "accountId": account}


def _tf(b: bool) -> str:
    return "true" if b else "false"


# --- records (§2) ---------------------------------------------------------------------------

_TLS = {
    "tlsVersion": "TLSv1.3",
    "cipherSuite": "TLS_AES_128_GCM_SHA256",
}
GLOBAL_SOURCES = {"iam.amazonaws.com", "signin.amazonaws.com", "organizations.amazonaws.com"}


def host_for(source: str, region: str) -> str:
    svc = source.split(".", 1)[0]
    if source in GLOBAL_SOURCES or (svc == "sts" and region == "us-east-1"):
        return f"{svc}.amazonaws.com"
    return f"{svc}.{region}.amazonaws.com"


def record(
    r: random.Random,
    t: float,
    identity: Record,
    source: str,
    name: str,
    region: str,
    ip: str,
    ua: str,
    recipient: str,
    *,
    req: Record | None = None,
    resp: Record | None = None,
    read_only: bool = True,
    error: tuple[str, str] | None = None,
    event_type: str = "AwsApiCall",
    extra: Record | None = None,
    tls: bool = True,
    request_id: str | None = None,
    version: str = "1.09",
) -> Record:
    """One CloudTrail record with the fields in AWS's order; ``extra`` adds/overrides fields."""
    rec: Record = {
        "eventVersion": version,
        "userIdentity": identity,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error is not None:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = req
    rec["responseElements"] = None if error is not None else resp
    if extra and "additionalEventData" in extra:
        rec["additionalEventData"] = extra.pop("additionalEventData")
    rec["requestID"] = request_id or uid(r)
    rec["eventID"] = uid(r)
    rec["readOnly"] = read_only
    if extra and "resources" in extra:
        rec["resources"] = extra.pop("resources")
    rec["eventType"] = event_type
    rec["managementEvent"] = True
    rec["recipientAccountId"] = recipient
    if extra:
        rec.update(extra)
    rec.setdefault("eventCategory", "Management")
    if tls and "invokedBy" not in identity:
        rec["tlsDetails"] = dict(_TLS, clientProvidedHostHeader=host_for(source, region))
    return rec


def denied(arn: str, action: str, resource: str = "*") -> tuple[str, str]:
    """An AccessDenied error as IAM words it."""
    target = "" if resource == "*" else f" on resource: {resource}"
    return (
        "AccessDenied",
        f"User: {arn} is not authorized to perform: {action}{target} because no identity-based "
        "policy allows the " + action + " action",
    )


def sts_credentials(s: Session) -> Record:
    return {"accessKeyId": s.key, "sessionToken": s.token, "expiration": java_time(s.expires)}


def new_session(
    r: random.Random,
    created: int,
    duration: int,
    **kw: Any,
) -> Session:
    return Session(key_id(r, "ASIA"), session_token(r), created, created + duration, **kw)


def assume_role_record(
    r: random.Random,
    t: int,
    caller: Record,
    s: Session,
    ip: str,
    ua: str,
    recipient: str,
    *,
    duration: int = 3600,
    external_id: str | None = None,
    request_id: str | None = None,
    shared: str | None = None,
    region: str = "us-east-1",
    req_extra: Record | None = None,
) -> Record:
    """A successful ``sts:AssumeRole`` issuing ``s`` (one copy: the caller's or the role owner's)."""
    assert s.role is not None
    req: Record = {"roleArn": s.role.arn, "roleSessionName": s.name, "durationSeconds": duration}
    if external_id:
        req["externalId"] = external_id
    if s.source_identity:
        req["sourceIdentity"] = s.source_identity
    if req_extra:
        req.update(req_extra)
    resp: Record = {
        "credentials": sts_credentials(s),
        "assumedRoleUser": {"assumedRoleId": f"{s.role.role_id}:{s.name}", "arn": s.role.session_arn(s.name)},
    }
    if s.source_identity:
        resp["sourceIdentity"] = s.source_identity
    extra: Record = {
        "additionalEventData": {
            "RequestDetails": {
                "awsServingRegion": region,
                "endpointType": "regional" if region != "us-east-1" else "global",
            }
        },
        "resources": [{"accountId": s.role.account, "type": "AWS::IAM::Role", "ARN": s.role.arn}],
    }
    if shared:
        extra["sharedEventID"] = shared
    return record(
        r, t, caller, "sts.amazonaws.com", "AssumeRole", region, ip, ua, recipient,
        req=req, resp=resp, extra=extra, request_id=request_id, version="1.08",
        tls="invokedBy" not in caller and ip != "AWS Internal",
    )  # fmt: skip
