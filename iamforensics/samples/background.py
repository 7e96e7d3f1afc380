"""A benign week: machines, services and people using the two accounts.

The week is a set of *sessions*, each planned per day from its own seeded generator: the
monitoring vendor's hourly scan (cross-account AssumeRole, read-heavy), EC2 instance-profile
credentials refreshed every 6 hours, Lambda functions, GitHub Actions deployments
(AssumeRoleWithWebIdentity, then a cross-account hop into production), and the AWS Config
service-linked role. People's sessions come from :mod:`.people`. A session says when it
lives, who it is and which calls it makes; :func:`hour_events` draws the calls that fall in
one hour, with ``scale`` times the base rate, so any hour can be generated alone.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .world import (
    DAY,
    DEV,
    EC2_IPS,
    GITHUB_IPS,
    HOME,
    HOUR,
    LAMBDA_IPS,
    LAMBDA_UA,
    PROD,
    REGIONS,
    SSM_UA,
    TERRAFORM_UA,
    VENDOR,
    VENDOR_IPS,
    VENDOR_UA,
    Record,
    Session,
    World,
    assume_role_record,
    ident_account,
    ident_role,
    ident_service,
    key_id,
    new_session,
    record,
    rng,
    s3_request_id,
    sts_credentials,
    uid,
)

Event = tuple[int, Record]
#: A call spec: (eventSource, eventName, readOnly, requestParameters or a function of the rng).
Spec = tuple[str, str, bool, "Record | None | Callable[[random.Random], Record | None]"]

CUSTOMER_BUCKET = "acme-prod-customer-data"
BUCKETS = {
    PROD: (CUSTOMER_BUCKET, "acme-prod-web-assets", "acme-cloudtrail-logs-058264710392", "acme-prod-backups"),
    DEV: ("acme-dev-artifacts", "acme-dev-scratch", "acme-dev-thumbnails"),
}
GLOBAL = {
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "s3.amazonaws.com",
    "organizations.amazonaws.com",
    "ce.amazonaws.com",
}


@dataclass
class CallSession:
    """A credential in use: identity, where from, and what it calls at what rate."""

    sid: str
    start: int
    end: int
    account: str
    identity: Record
    ip: str
    ua: str | Callable[[random.Random, str], str]
    mix: tuple[Spec, ...]
    per_hour: float
    regions: tuple[str, ...] = (HOME,)
    console: bool = False
    invoked_by: str | None = None
    burst: bool = False  # calls packed at the start of the window (scans), not spread
    cadence: int = 0  # machines: calls clustered every ``cadence`` seconds (agents, schedules)


@dataclass
class DayPlan:
    events: list[Event] = field(default_factory=list)  # issuance and sign-in events
    sessions: list[CallSession] = field(default_factory=list)


def _bucket_req(account: str) -> Callable[[random.Random], Record]:
    def f(r: random.Random) -> Record:
        b = r.choice(BUCKETS[account])
        return {"bucketName": b, "Host": f"{b}.s3.amazonaws.com"}

    return f


def _trail_req(account: str) -> Record:
    return {
        "name": f"arn:aws:cloudtrail:us-east-1:{account}:trail/acme-{'prod' if account == PROD else 'dev'}-trail"
    }


def scan_mix(account: str) -> tuple[Spec, ...]:
    b = _bucket_req(account)
    return (
        ("iam.amazonaws.com", "ListUsers", True, None),
        ("iam.amazonaws.com", "ListRoles", True, None),
        ("iam.amazonaws.com", "ListPolicies", True, {"scope": "Local", "onlyAttached": False}),
        ("iam.amazonaws.com", "GetAccountPasswordPolicy", True, None),
        ("iam.amazonaws.com", "GetAccountSummary", True, None),
        (
            "iam.amazonaws.com",
            "ListMFADevices",
            True,
            lambda r: {"userName": r.choice(("alice", "dave", "frank", "grace"))},
        ),
        (
            "iam.amazonaws.com",
            "ListAccessKeys",
            True,
            lambda r: {"userName": r.choice(("alice", "dave", "svc-backup"))},
        ),
        ("iam.amazonaws.com", "GetCredentialReport", True, None),
        ("s3.amazonaws.com", "ListBuckets", True, {"Host": "s3.amazonaws.com"}),
        ("s3.amazonaws.com", "GetBucketPolicy", True, b),
        ("s3.amazonaws.com", "GetBucketAcl", True, b),
        ("s3.amazonaws.com", "GetBucketEncryption", True, b),
        ("s3.amazonaws.com", "GetBucketPublicAccessBlock", True, b),
        ("ec2.amazonaws.com", "DescribeInstances", True, {"instancesSet": {}, "filterSet": {}}),
        ("ec2.amazonaws.com", "DescribeSecurityGroups", True, {"securityGroupSet": {}, "filterSet": {}}),
        ("ec2.amazonaws.com", "DescribeVolumes", True, {"volumeSet": {}, "filterSet": {}}),
        (
            "ec2.amazonaws.com",
            "DescribeSnapshots",
            True,
            {"ownersSet": {"items": [{"owner": "self"}]}, "filterSet": {}},
        ),
        ("ec2.amazonaws.com", "DescribeVpcs", True, {"vpcSet": {}, "filterSet": {}}),
        ("cloudtrail.amazonaws.com", "DescribeTrails", True, {"includeShadowTrails": True}),
        ("cloudtrail.amazonaws.com", "GetTrailStatus", True, _trail_req(account)),
        ("cloudtrail.amazonaws.com", "GetEventSelectors", True, {"trailName": _trail_req(account)["name"]}),
        ("kms.amazonaws.com", "ListKeys", True, None),
        ("lambda.amazonaws.com", "ListFunctions20150331", True, None),
        ("rds.amazonaws.com", "DescribeDBInstances", True, None),
        ("config.amazonaws.com", "DescribeConfigurationRecorders", True, None),
        ("guardduty.amazonaws.com", "ListDetectors", True, None),
        ("monitoring.amazonaws.com", "DescribeAlarms", True, None),
        ("logs.amazonaws.com", "DescribeLogGroups", True, None),
    )


def _kms_decrypt(account: str, region: str) -> Callable[[random.Random], Record]:
    def f(r: random.Random) -> Record:
        return {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "keyId": f"arn:aws:kms:{region}:{account}:alias/app",
        }

    return f


def _object(bucket: str, prefixes: tuple[str, ...]) -> Callable[[random.Random], Record]:
    def f(r: random.Random) -> Record:
        key = f"{r.choice(prefixes)}{r.randrange(10**6, 10**7)}.json"
        return {"bucketName": bucket, "Host": f"{bucket}.s3.{HOME}.amazonaws.com", "key": key}

    return f


def app_mix(account: str) -> tuple[Spec, ...]:
    mix: list[Spec] = [
        ("ssm.amazonaws.com", "UpdateInstanceInformation", False, None),
        ("ssm.amazonaws.com", "UpdateInstanceInformation", False, None),
        ("ssm.amazonaws.com", "ListInstanceAssociations", True, None),
        ("kms.amazonaws.com", "Decrypt", True, _kms_decrypt(account, HOME)),
        ("secretsmanager.amazonaws.com", "GetSecretValue", True,
         {"secretId": f"arn:aws:secretsmanager:{HOME}:{account}:secret:web-app/db-AbCdEf"}),
    ]  # fmt: skip
    if account == PROD:
        obj = _object(CUSTOMER_BUCKET, ("orders/", "invoices/"))
        mix += [("s3.amazonaws.com", "GetObject", True, obj), ("s3.amazonaws.com", "PutObject", False, obj)]
    return tuple(mix)


def lambda_mix(account: str, function: str) -> tuple[Spec, ...]:
    mix: list[Spec] = [
        ("kms.amazonaws.com", "Decrypt", True, _kms_decrypt(account, HOME)),
        ("ssm.amazonaws.com", "GetParameter", True, {"name": f"/{function}/config", "withDecryption": True}),
    ]
    if account == PROD:
        obj = _object(CUSTOMER_BUCKET, ("orders/", "exports/daily-"))
        mix += [("s3.amazonaws.com", "GetObject", True, obj), ("s3.amazonaws.com", "PutObject", False, obj)]
    return tuple(mix)


def deploy_mix(account: str) -> tuple[Spec, ...]:
    def fn(r: random.Random) -> Record:
        name = r.choice(("order-processor", "thumbnailer", "api"))
        return {"functionName": f"arn:aws:lambda:{HOME}:{account}:function:{name}"}

    return (
        ("sts.amazonaws.com", "GetCallerIdentity", True, None),
        ("ecr.amazonaws.com", "GetAuthorizationToken", True, None),
        ("lambda.amazonaws.com", "GetFunction20150331v2", True, fn),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", False, fn),
        ("cloudformation.amazonaws.com", "DescribeStacks", True, {"stackName": "webshop"}),
        (
            "cloudformation.amazonaws.com",
            "CreateChangeSet",
            False,
            {"stackName": "webshop", "changeSetType": "UPDATE"},
        ),
        ("cloudformation.amazonaws.com", "ExecuteChangeSet", False, {"stackName": "webshop"}),
    )


CONFIG_MIX: tuple[Spec, ...] = (
    ("ec2.amazonaws.com", "DescribeInstances", True, {"instancesSet": {}, "filterSet": {}}),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", True, {"securityGroupSet": {}, "filterSet": {}}),
    ("iam.amazonaws.com", "GetRole", True, {"roleName": "web-app"}),
    ("s3.amazonaws.com", "GetBucketAcl", True, None),
)


# --- machine sessions, planned per day -----------------------------------------------------


def _scan(w: World, day: int, account: str) -> DayPlan:
    plan = DayPlan()
    role = w.role(account, "SecurityAuditVendor")
    vendor_role_id = "AROAWXYZ2QK7VENDOR5SCN"
    for h in range(0, 24, 2):
        t0 = day + h * HOUR + 420  # every other hour at :07
        r = rng(w.seed, "scan", account, t0)
        name = f"cspm-{t0}"
        s = new_session(r, t0, HOUR, role=role, name=name)
        caller = ident_account(f"{vendor_role_id}:scanner-{r.randrange(1, 9)}", VENDOR)
        plan.events.append(
            (t0, assume_role_record(r, t0, caller, s, r.choice(VENDOR_IPS), VENDOR_UA.format(api="sts"),
                                    account, external_id="acme-7Hq2", shared=uid(r)))
        )  # fmt: skip
        ip = r.choice(VENDOR_IPS)
        plan.sessions.append(
            CallSession(f"scan-{account}-{t0}", t0 + 1, t0 + 900, account, ident_role(s), ip,
                        lambda r, src: VENDOR_UA.format(api=src.split(".")[0]), scan_mix(account), 14.0,
                        REGIONS if h % 6 == 0 else (HOME,), burst=True)
        )  # fmt: skip
    return plan


def _service_assume(
    w: World, plan: DayPlan, t: int, s: Session, service: str, region: str, account: str
) -> None:
    r = rng(w.seed, "svc-assume", s.key)
    assert s.role is not None
    req = {"roleArn": s.role.arn, "roleSessionName": s.name}
    resp = {
        "credentials": sts_credentials(s),
        "assumedRoleUser": {"assumedRoleId": f"{s.role.role_id}:{s.name}", "arn": s.role.session_arn(s.name)},
    }
    extra = {
        "resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": s.role.arn}],
        "sharedEventID": uid(r),
    }
    plan.events.append(
        (t, record(r, t, ident_service(service), "sts.amazonaws.com", "AssumeRole", region, service, service,
                   account, req=req, resp=resp, extra=extra, version="1.08"))
    )  # fmt: skip


def _ec2(w: World, day: int, account: str) -> DayPlan:
    plan = DayPlan()
    role = w.role(account, "web-app")
    n = 2 if account == PROD else 1
    for i in range(n):
        inst = "i-0" + rng(w.seed, "inst", account, i).getrandbits(64).to_bytes(8, "big").hex()[:16]
        ip = EC2_IPS[i % len(EC2_IPS)] if account == PROD else "54.229.40.200"
        for p in range(4):  # instance credentials refreshed every 6 hours
            t0 = day + p * 6 * HOUR + 600 + i * 97
            r = rng(w.seed, "ec2", account, i, t0)
            s = new_session(r, t0, 6 * HOUR + 1200, role=role, name=inst, ec2=True)
            _service_assume(w, plan, t0, s, "ec2.amazonaws.com", HOME, account)
            plan.sessions.append(
                CallSession(f"ec2-{account}-{i}-{t0}", t0 + 5, t0 + 6 * HOUR, account, ident_role(s), ip,
                            lambda r, src: SSM_UA if src.startswith("ssm") else "aws-sdk-java/2.25.40 Linux/6.1.84-99.169.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. md/internal exec-env/AWS_EC2 io/sync http/Apache cfg/retry-mode/legacy",
                            app_mix(account), 5.0, cadence=HOUR)
            )  # fmt: skip
    return plan


LAMBDAS = (
    (PROD, "order-processor", "order-processor-exec", 5.0),
    (PROD, "nightly-report", "nightly-report-exec", 0.0),
    (DEV, "thumbnailer", "thumbnailer-exec", 2.0),
)


def _lambdas(w: World, day: int) -> DayPlan:
    plan = DayPlan()
    for account, fn, role_name, rate in LAMBDAS:
        role = w.role(account, role_name)
        region = HOME if account == PROD else "us-west-2"
        scope = {
            "issuerType": "AWS::Lambda::Function",
            "credentialsIssuedTo": f"arn:aws:lambda:{region}:{account}:function:{fn}",
        }
        periods = (
            [(23 * HOUR + 2880, 1200, 60.0)]
            if rate == 0
            else [(p * 4 * HOUR + 1234, 4 * HOUR, rate) for p in range(6)]
        )
        for off, length, per_hour in periods:
            t0 = day + off
            r = rng(w.seed, "lambda", fn, t0)
            s = new_session(r, t0, 12 * HOUR, role=role, name=fn, in_scope_of=scope)
            _service_assume(w, plan, t0, s, "lambda.amazonaws.com", region, account)
            plan.sessions.append(
                CallSession(f"lambda-{fn}-{t0}", t0 + 1, t0 + length, account, ident_role(s),
                            r.choice(LAMBDA_IPS[region]), LAMBDA_UA, lambda_mix(account, fn), per_hour, (region,),
                            cadence=0 if rate == 0 else HOUR)
            )  # fmt: skip
    return plan


def _config(w: World, day: int, account: str) -> DayPlan:
    plan = DayPlan()
    role = w.role(account, "AWSServiceRoleForConfig")
    for p in range(2):
        t0 = day + p * 12 * HOUR + 3000
        r = rng(w.seed, "config", account, t0)
        s = new_session(r, t0, 12 * HOUR, role=role, name="AWSConfig-Describe")
        _service_assume(w, plan, t0, s, "config.amazonaws.com", HOME, account)
        ident = ident_role(s)
        ident["invokedBy"] = "config.amazonaws.com"
        plan.sessions.append(
            CallSession(f"config-{account}-{t0}", t0 + 2, t0 + 12 * HOUR, account, ident, "config.amazonaws.com",
                        "config.amazonaws.com", CONFIG_MIX, 2.0, (HOME,), invoked_by="config.amazonaws.com", cadence=3600)
        )  # fmt: skip
    return plan


def _ci(w: World, day: int) -> DayPlan:
    """GitHub Actions: OIDC into dev; production deploys hop cross-account into prod's deploy role."""
    plan = DayPlan()
    weekday = ((day - 1714953600) // DAY) % 7 < 5
    r0 = rng(w.seed, "ci-day", day)
    runs = r0.randint(4, 7) if weekday else r0.randint(0, 1)
    gh = w.role(DEV, "github-deploy")
    provider = f"arn:aws:iam::{DEV}:oidc-provider/token.actions.githubusercontent.com"
    for n in range(runs):
        t0 = day + r0.randint(8 * HOUR, 18 * HOUR)
        r = rng(w.seed, "ci", day, n)
        run_id = r.randrange(8_900_000_000, 9_100_000_000)
        branch = "main" if n % 3 == 0 else f"feature-{r.randrange(100, 999)}"
        sub = f"repo:acme/webshop:ref:refs/heads/{branch}"
        s = new_session(r, t0, HOUR, role=gh, name=f"GitHubActions-{run_id}",
                        web_id={"federatedProvider": provider, "attributes": {}})  # fmt: skip
        caller = {
            "type": "WebIdentityUser",
            "principalId": f"{provider}:sts.amazonaws.com:{sub}",
            "userName": sub,
            "identityProvider": provider,
        }
        req = {"roleArn": gh.arn, "roleSessionName": s.name, "durationSeconds": 3600}
        resp = {
            "credentials": sts_credentials(s),
            "subjectFromWebIdentityToken": sub,
            "assumedRoleUser": {"assumedRoleId": f"{gh.role_id}:{s.name}", "arn": gh.session_arn(s.name)},
            "provider": provider,
            "audience": "sts.amazonaws.com",
        }
        ip = r.choice(GITHUB_IPS)
        ua = "aws-sdk-js/3.568.0 ua/2.0 os/linux#6.5.0-1018-azure lang/js md/nodejs#20.12.2 api/sts#3.568.0"
        extra = {"resources": [{"accountId": DEV, "type": "AWS::IAM::Role", "ARN": gh.arn}]}
        plan.events.append(
            (t0, record(r, t0, caller, "sts.amazonaws.com", "AssumeRoleWithWebIdentity", HOME, ip, ua, DEV,
                        req=req, resp=resp, extra=extra, version="1.08"))
        )  # fmt: skip
        tf = lambda r, src: TERRAFORM_UA.format(api=src.split(".")[0])  # noqa: E731
        plan.sessions.append(
            CallSession(f"ci-{day}-{n}", t0 + 3, t0 + 420, DEV, ident_role(s), ip, tf, deploy_mix(DEV), 120.0)
        )
        if branch == "main":  # production deploy: cross-account AssumeRole, one copy per account
            t1 = t0 + 430
            dep = w.role(PROD, "deploy")
            s2 = new_session(r, t1, HOUR, role=dep, name=f"gha-{run_id}")
            req_id, shared = uid(r), uid(r)
            ua2 = TERRAFORM_UA.format(api="sts")
            plan.events.append(
                (
                    t1,
                    assume_role_record(
                        r, t1, ident_role(s), s2, ip, ua2, DEV, request_id=req_id, shared=shared, region=HOME
                    ),
                )
            )
            plan.events.append(
                (t1, assume_role_record(r, t1, ident_account(f"{gh.role_id}:{s.name}", DEV), s2, ip, ua2, PROD,
                                        request_id=req_id, shared=shared, region=HOME))
            )  # fmt: skip
            plan.sessions.append(
                CallSession(
                    f"cid-{day}-{n}", t1 + 2, t1 + 600, PROD, ident_role(s2), ip, tf, deploy_mix(PROD), 90.0
                )
            )
    return plan


@functools.lru_cache(maxsize=4)
def machine_plan(w: World, day: int) -> DayPlan:
    plan = DayPlan()
    for part in (_scan(w, day, PROD), _scan(w, day, DEV), _ec2(w, day, PROD), _lambdas(w, day),
                 _config(w, day, PROD), _config(w, day, DEV), _ci(w, day)):  # fmt: skip
        plan.events += part.events
        plan.sessions += part.sessions
    return plan


# --- calls --------------------------------------------------------------------------------


def session_calls(w: World, cs: CallSession, lo: int, hi: int, scale: int) -> list[Event]:
    """The calls ``cs`` makes in ``[lo, hi)``, about ``per_hour * scale`` per hour."""
    a, b = max(lo, cs.start), min(hi, cs.end)
    if a >= b:
        return []
    r = rng(w.seed, "calls", cs.sid, lo)
    share = (b - a) / HOUR if not cs.burst else (b - a) / max(1, cs.end - cs.start)
    expected = cs.per_hour * scale * share
    n = int(expected) + (1 if r.random() < expected - int(expected) else 0)
    out: list[Event] = []
    for _ in range(n):
        t = r.randrange(a, b)
        if cs.cadence:
            t = min(b - 1, a + (t - a) // cs.cadence * cs.cadence + r.randrange(0, 90))
        out.append((t, call_record(r, w, cs, t)))
    return out


def call_record(r: random.Random, w: World, cs: CallSession, t: int) -> Record:
    source, name, ro, params = r.choice(cs.mix)
    req = params(r) if callable(params) else params
    region = "us-east-1" if source in GLOBAL and source != "s3.amazonaws.com" else r.choice(cs.regions)
    if source == "s3.amazonaws.com" and name == "ListBuckets":
        region = "us-east-1"
    ua = cs.ua(r, source) if callable(cs.ua) else cs.ua
    error = None
    extra: Record = {}
    if cs.console:
        extra["sessionCredentialFromConsole"] = "true"
    resp: Record | None = None
    if name == "GetBucketPolicy" and r.random() < 0.5:
        error = ("NoSuchBucketPolicy", "The bucket policy does not exist")
    if source == "s3.amazonaws.com" and req and "key" in req:  # a data event
        region = HOME
        bucket = req["bucketName"]
        extra.update(
            eventCategory="Data",
            managementEvent=False,
            additionalEventData={
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0 if ro else r.randrange(800, 90_000),
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": key_id(r, "", 40),
                "bytesTransferredOut": r.randrange(800, 90_000) if ro else 0,
            },
            resources=[
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{req['key']}"},
                {"accountId": cs.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
            ],
        )
        ua = f"[{ua}]"
        rec = record(r, t, cs.identity, source, name, region, cs.ip, ua, cs.account, req=req, resp=resp,
                     read_only=ro, extra=extra, request_id=s3_request_id(r), version="1.10")  # fmt: skip
        rec["managementEvent"] = False
        return rec
    if name == "UpdateInstanceInformation":
        req = {"instanceId": cs.identity["principalId"].split(":", 1)[1], "agentVersion": "3.3.380.0",
               "agentStatus": "Active", "platformType": "Linux", "platformName": "Amazon Linux",
               "platformVersion": "2023", "iPAddress": "10.20.1.17", "computerName": "ip-10-20-1-17.eu-west-1.compute.internal"}  # fmt: skip
    return record(r, t, cs.identity, source, name, region, cs.ip, ua, cs.account, req=req, resp=resp,
                  read_only=ro, error=error, extra=extra)  # fmt: skip


def hour_events(w: World, h: int, scale: int, extra_plans: list[DayPlan]) -> list[Event]:
    """Every background event in ``[h, h + 1 hour)``: issuance events of the plans and calls."""
    day = h - h % DAY
    out: list[Event] = []
    plans = [machine_plan(w, day - DAY), machine_plan(w, day), *extra_plans]
    for plan in plans:
        out.extend(e for e in plan.events if h <= e[0] < h + HOUR)
        for cs in plan.sessions:
            out.extend(session_calls(w, cs, h, h + HOUR, scale))
    return out
