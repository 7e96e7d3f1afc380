"""People at work: console sign-ins (with and without MFA, failures), Identity Center, switch-role, CLI.

Each working day gets a :class:`~.background.DayPlan` of sign-in and issuance events plus the
sessions people then use. Sign-ins are also what the answer key lists, so every ConsoleLogin
of the week is made here or in :mod:`.scenario` through :func:`console_login`.
"""

from __future__ import annotations

import functools
import random

from .background import GLOBAL, CallSession, DayPlan, Spec, _bucket_req
from .world import (
    BASE,
    BROWSER_UA,
    CLI_UA,
    DAY,
    DEV,
    HOME,
    HOME_IPS,
    HOUR,
    IDC_REGION,
    MAC_BROWSER_UA,
    MAC_CLI_UA,
    OFFICE_IP,
    PROD,
    REGIONS,
    SSO_ROLE,
    Record,
    Session,
    User,
    World,
    assume_role_record,
    ident_account,
    ident_role,
    ident_root,
    ident_user,
    key_id,
    new_session,
    record,
    rng,
    sts_credentials,
    uid,
)

LOGIN_TO = "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_c63b8c5a1f2e3d4b"
IDENTITY_STORE = f"arn:aws:identitystore::{PROD}:identitystore/d-9367a1b2c3"
SAML_QUALIFIER = "Ym9iQGFjbWUuZXhhbXBsZTpkLTkzNjdhMWIyYzM="

CONSOLE_ADMIN: tuple[Spec, ...] = (
    ("iam.amazonaws.com", "ListUsers", True, None),
    (
        "iam.amazonaws.com",
        "GetUser",
        True,
        lambda r: {"userName": r.choice(("dave", "grace", "erin", "frank"))},
    ),
    ("iam.amazonaws.com", "ListGroups", True, None),
    (
        "iam.amazonaws.com",
        "ListAttachedUserPolicies",
        True,
        lambda r: {"userName": r.choice(("dave", "grace"))},
    ),
    ("iam.amazonaws.com", "ListRoles", True, None),
    ("iam.amazonaws.com", "GetAccountSummary", True, None),
    ("ec2.amazonaws.com", "DescribeInstances", True, {"instancesSet": {}, "filterSet": {}}),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", True, {"securityGroupSet": {}, "filterSet": {}}),
    ("monitoring.amazonaws.com", "DescribeAlarms", True, None),
    ("cloudtrail.amazonaws.com", "LookupEvents", True, {"maxResults": 50}),
    ("health.amazonaws.com", "DescribeEventAggregates", True, {"aggregateField": "eventTypeCategory"}),
)
DEV_CLI: tuple[Spec, ...] = (
    ("sts.amazonaws.com", "GetCallerIdentity", True, None),
    ("lambda.amazonaws.com", "ListFunctions20150331", True, None),
    ("lambda.amazonaws.com", "GetFunction20150331v2", True, {"functionName": "order-processor"}),
    ("logs.amazonaws.com", "DescribeLogStreams", True, {"logGroupName": "/aws/lambda/order-processor"}),
    (
        "logs.amazonaws.com",
        "FilterLogEvents",
        True,
        {"logGroupName": "/aws/lambda/order-processor", "limit": 100},
    ),
    ("ec2.amazonaws.com", "DescribeInstances", True, {"instancesSet": {}, "filterSet": {}}),
    ("s3.amazonaws.com", "ListBuckets", True, {"Host": "s3.amazonaws.com"}),
    ("cloudformation.amazonaws.com", "DescribeStacks", True, {"stackName": "webshop"}),
)
FINANCE: tuple[Spec, ...] = (
    ("ce.amazonaws.com", "GetCostAndUsage", True, {"granularity": "DAILY", "metrics": ["UnblendedCost"]}),
    ("ce.amazonaws.com", "GetCostForecast", True, {"granularity": "MONTHLY", "metric": "UNBLENDED_COST"}),
    ("budgets.amazonaws.com", "DescribeBudgets", True, {"accountId": PROD}),
)


def console_login(
    r: random.Random,
    t: int,
    account: str,
    ip: str,
    ua: str,
    *,
    user: User | None = None,
    root: bool = False,
    mfa: bool = False,
    ok: bool = True,
    unknown_name: bool = False,
) -> Record:
    """A ``ConsoleLogin`` (§4.6): success or failure, with or without MFA, IAM user or root."""
    if root:
        ident = ident_root(account)
        if not ok:
            ident.pop("userName")
    elif unknown_name or user is None:
        ident = {
            "type": "IAMUser",
            "accountId": account,
            "accessKeyId": "",
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }
    elif ok:
        ident = {"type": "IAMUser", "principalId": user.user_id, "arn": user.arn, "accountId": account,
                 "userName": user.name}  # fmt: skip
    else:  # failed sign-ins carry no arn
        ident = {"type": "IAMUser", "principalId": user.user_id, "accountId": account, "accessKeyId": "",
                 "userName": user.name}  # fmt: skip
    extra: Record = {
        "additionalEventData": {"LoginTo": LOGIN_TO, "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"}
    }
    if mfa:
        device = (
            f"arn:aws:iam::{account}:mfa/root-account-mfa-device" if root else (user.mfa if user else None)
        )
        extra["additionalEventData"]["MFAIdentifier"] = device
    error = None
    if not ok:
        msg = "No username found in supplied account" if unknown_name else "Failed authentication"
        error = ("", msg)
    rec = record(r, t, ident, "signin.amazonaws.com", "ConsoleLogin", "us-east-1", ip, ua, account,
                 read_only=False, event_type="AwsConsoleSignIn", extra=extra, error=error)  # fmt: skip
    if error:
        del rec["errorCode"]  # sign-in failures carry only errorMessage
    rec["responseElements"] = {"ConsoleLogin": "Success" if ok else "Failure"}
    rec["tlsDetails"]["clientProvidedHostHeader"] = "signin.aws.amazon.com"
    del rec["requestID"]
    return rec


def _console_session(
    w: World, plan: DayPlan, sid: str, t: int, length: int, user: User, ip: str, ua: str,
    mix: tuple[Spec, ...], per_hour: float, mfa: bool,
) -> Session:  # fmt: skip
    r = rng(w.seed, "console", sid)
    s = new_session(r, t, 12 * HOUR, user=user, mfa=mfa)
    plan.sessions.append(
        CallSession(sid, t + 20, t + length, user.account, ident_user(user, s), ip, ua, mix, per_hour, (HOME, "us-east-1"), console=True)
    )  # fmt: skip
    return s


def switch_role(
    w: World, plan: DayPlan, t: int, src: Session, role_name: str, ip: str, ua: str, length: int
) -> None:
    """Console Switch Role: AssumeRole in both accounts (shared ids) + SwitchRole, then a new-key session."""
    assert src.user is not None
    r = rng(w.seed, "switch", src.key, t)
    role = w.role(DEV, role_name)
    s = new_session(r, t, HOUR, role=role, name=src.user.name, mfa=src.mfa)
    caller = ident_user(src.user, src)
    caller["invokedBy"] = "AWS Internal"
    req_id, shared = uid(r), uid(r)
    plan.events.append(
        (
            t,
            assume_role_record(
                r, t, caller, s, "AWS Internal", "AWS Internal", PROD, request_id=req_id, shared=shared
            ),
        )
    )
    plan.events.append(
        (t, assume_role_record(r, t, ident_account(src.user.user_id, PROD), s, "AWS Internal", "AWS Internal", DEV,
                               request_id=req_id, shared=shared))
    )  # fmt: skip
    ident = {
        "type": "AssumedRole",
        "principalId": f"{role.role_id}:{s.name}",
        "arn": role.session_arn(s.name),
        "accountId": DEV,
    }
    ev = record(r, t, ident, "signin.amazonaws.com", "SwitchRole", "us-east-1", ip, ua, DEV, read_only=False,
                event_type="AwsConsoleSignIn",
                extra={"additionalEventData": {"SwitchFrom": src.user.arn, "RedirectTo": "https://console.aws.amazon.com/ec2/home"}})  # fmt: skip
    ev["responseElements"] = {"SwitchRole": "Success"}
    del ev["requestID"]
    plan.events.append((t, ev))
    # the console then signs calls with another key than the one AssumeRole returned (§4.2)
    used = Session(key_id(r, "ASIA"), "", t, t + HOUR, role=role, name=s.name, mfa=s.mfa)
    plan.sessions.append(
        CallSession(f"switch-{s.key}", t + 15, t + length, DEV, ident_role(used), ip, ua, CONSOLE_ADMIN, 12.0, (HOME, "us-west-2"), console=True)
    )  # fmt: skip


def identity_center(w: World, plan: DayPlan, t: int, account: str, ip: str, ua: str, length: int) -> None:
    """bob through the access portal: ListAccounts (Unknown), GetRoleCredentials, AssumeRoleWithSAML."""
    r = rng(w.seed, "idc", account, t)
    idc_user = "93671b2c3d-4e5f6a7b-8c9d-0e1f-2a3b-4c5d6e7f8a9b"
    unknown = {"type": "Unknown", "principalId": idc_user, "accountId": PROD, "userName": "bob@acme.example"}
    ev = record(r, t - 40, unknown, "sso.amazonaws.com", "ListAccounts", IDC_REGION, ip, ua, PROD,
                req=None, read_only=True)  # fmt: skip
    plan.events.append((t - 40, ev))
    idc = {
        "type": "IdentityCenterUser",
        "accountId": PROD,
        "onBehalfOf": {"userId": idc_user, "identityStoreArn": IDENTITY_STORE},
        "credentialId": key_id(r, "", 40).lower(),
    }
    role = w.role(account, SSO_ROLE[account])
    ev = record(r, t - 2, idc, "sso.amazonaws.com", "GetRoleCredentials", IDC_REGION, ip, ua, PROD,
                event_type="AwsServiceEvent", read_only=True,
                extra={"serviceEventDetails": {"role_name": "AdministratorAccess", "account_id": account}})  # fmt: skip
    plan.events.append((t - 2, ev))
    s = new_session(r, t, HOUR, role=role, name="bob@acme.example")
    provider = f"arn:aws:iam::{account}:saml-provider/AWSSSO_3a1f9c2e7b5d4a60_DO_NOT_DELETE"
    saml = {"type": "SAMLUser", "principalId": f"{SAML_QUALIFIER}:bob@acme.example", "userName": "bob@acme.example",
            "identityProvider": SAML_QUALIFIER}  # fmt: skip
    req = {"sAMLAssertionID": "_" + uid(r), "roleSessionName": s.name, "principalTags": {}, "roleArn": role.arn,
           "principalArn": provider, "durationSeconds": 3600}  # fmt: skip
    resp = {
        "credentials": sts_credentials(s),
        "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{s.name}", "arn": role.session_arn(s.name)},
        "subject": "bob@acme.example",
        "subjectType": "persistent",
        "issuer": f"https://portal.sso.{IDC_REGION}.amazonaws.com/saml/assertion/MDk2NzM0NTY3ODkw",
        "audience": "https://signin.aws.amazon.com/saml",
        "nameQualifier": SAML_QUALIFIER,
    }
    extra = {"resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role.arn},
                           {"accountId": account, "type": "AWS::IAM::SAMLProvider", "ARN": provider}]}  # fmt: skip
    plan.events.append(
        (t, record(r, t, saml, "sts.amazonaws.com", "AssumeRoleWithSAML", "us-east-1", ip, ua, account,
                   req=req, resp=resp, extra=extra, read_only=True, version="1.08"))
    )  # fmt: skip
    used = Session(key_id(r, "ASIA"), "", t, t + HOUR, role=role, name=s.name,
                   on_behalf_of={"userId": idc_user, "identityStoreArn": IDENTITY_STORE})  # fmt: skip
    plan.sessions.append(
        CallSession(f"idc-{account}-{t}", t + 30, t + length, account, ident_role(used), ip, ua, CONSOLE_ADMIN, 14.0, REGIONS, console=True)
    )  # fmt: skip


def _cli_ua(r: random.Random, source: str) -> str:
    svc = {"lambda": "lambda", "logs": "logs", "ec2": "ec2", "s3": "s3", "sts": "sts"}.get(
        source.split(".")[0], "cloudformation"
    )
    verb = {"lambda": "list-functions", "logs": "filter-log-events", "ec2": "describe-instances", "s3": "ls",
            "sts": "get-caller-identity"}.get(svc, "describe-stacks")  # fmt: skip
    return MAC_CLI_UA.format(command=f"{svc}.{verb}")


@functools.lru_cache(maxsize=4)
def people_plan(w: World, day: int) -> DayPlan:
    """Who signs in on ``day`` and what they do (deterministic per seed and day)."""
    plan = DayPlan()
    dow = (day - BASE) // DAY % 7  # 0 = Monday
    if dow >= 5:
        return plan
    r = rng(w.seed, "people", day)
    alice, dave, frank, grace = (w.user(PROD, n) for n in ("alice", "dave", "frank", "grace"))
    office = dow in (0, 1, 3)
    # alice: console with MFA every weekday; switch-role into development on Tue and Thu
    t = day + 7 * HOUR + r.randrange(0, 3600)
    ip = OFFICE_IP if office else HOME_IPS["alice"]
    plan.events.append((t, console_login(r, t, PROD, ip, BROWSER_UA, user=alice, mfa=True)))
    s = _console_session(
        w, plan, f"alice-{day}", t, 8 * HOUR, alice, ip, BROWSER_UA, CONSOLE_ADMIN, 10.0, True
    )
    if dow in (1, 3):
        switch_role(w, plan, t + 2 * HOUR + r.randrange(600), s, "CrossAccountAdmin", ip, BROWSER_UA, 50 * 60)
    # dave: his access key from the office or home, console with MFA on Mondays and Thursdays
    t = day + 8 * HOUR + r.randrange(0, 2400)
    ip = OFFICE_IP if dow != 4 else HOME_IPS["dave"]
    plan.sessions.append(
        CallSession(f"dave-{day}", t, t + 8 * HOUR, PROD, ident_user(dave), ip, _cli_ua, DEV_CLI, 8.0, (HOME, "us-east-1"))
    )  # fmt: skip
    if dow in (0, 3):
        t2 = t + 3 * HOUR
        plan.events.append((t2, console_login(r, t2, PROD, ip, MAC_BROWSER_UA, user=dave, mfa=True)))
        _console_session(w, plan, f"dave-c-{day}", t2, 2 * HOUR, dave, ip, MAC_BROWSER_UA, DEV_CLI, 6.0, True)
    # bob: Identity Center from the US, into production and development
    for k, account in enumerate((PROD, DEV) if dow % 2 == 0 else (DEV,)):
        t = day + 14 * HOUR + k * 3 * HOUR + r.randrange(0, 1800)
        identity_center(w, plan, t, account, HOME_IPS["bob"], MAC_BROWSER_UA, 2 * HOUR)
    # frank (finance, MFA) on Mon/Tue/Thu; grace (no MFA device) on Tue and Fri
    if dow in (0, 1, 3):
        t = day + 9 * HOUR + r.randrange(0, 3600)
        plan.events.append((t, console_login(r, t, PROD, OFFICE_IP, BROWSER_UA, user=frank, mfa=True)))
        _console_session(w, plan, f"frank-{day}", t, HOUR, frank, OFFICE_IP, BROWSER_UA, FINANCE, 8.0, True)
    if dow in (1, 4):
        t = day + 10 * HOUR + r.randrange(0, 3600)
        if dow == 1:  # a mistyped password first
            plan.events.append(
                (t - 35, console_login(r, t - 35, PROD, OFFICE_IP, BROWSER_UA, user=grace, ok=False))
            )
        plan.events.append((t, console_login(r, t, PROD, OFFICE_IP, BROWSER_UA, user=grace, mfa=False)))
        mix = DEV_CLI[1:] + (("s3.amazonaws.com", "GetBucketLocation", True, _bucket_req(PROD)),)
        _console_session(w, plan, f"grace-{day}", t, 90 * 60, grace, OFFICE_IP, BROWSER_UA, mix, 10.0, False)
    return plan


def cli_identity(u: User) -> Record:
    return ident_user(u)


__all__ = ["GLOBAL", "console_login", "identity_center", "people_plan", "switch_role", "CLI_UA"]
