"""The compromise, and the scripted benign events an investigation must tell apart from it.

dave's long-term access key leaks. On Wednesday 2024-05-08 at 02:13 UTC it is used from Russia
(5.188.10.77): recon with AccessDenied bursts, a failed AssumeRole, AdministratorAccess
attached to dave himself, persistence (a key and a console password for svc-backup, a role
trusting an outside account), a federation token, a cross-account AssumeRole into development
and a role chain there (event selectors cut, an EBS snapshot shared with the outside account,
the chained session used after it expired), then from Romania (193.32.162.80) S3 downloads,
StopLogging and DeactivateMFADevice, and a console sign-in as svc-backup without MFA. On
Thursday root is guessed and signed in without MFA; on Friday the new key and the backdoor
role are used from Hong Kong. Every event is tagged while it is made, so the answer key
(:mod:`.answers`) is computed, never typed. Each part of the story draws from its own seeded
generator, so adding events to one part leaves the ids of the others unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .people import console_login
from .world import (
    ATTACKER_BOTO,
    ATTACKER_BROWSER_UA,
    ATTACKER_UA,
    BASE,
    BROWSER_UA,
    CLI_UA,
    DAY,
    DEV,
    HOME,
    HOUR,
    OFFICE_IP,
    OUTSIDE,
    PROD,
    REGIONS,
    Record,
    Session,
    World,
    assume_role_record,
    denied,
    ident_account,
    ident_federated,
    ident_role,
    ident_root,
    ident_user,
    java_time,
    key_id,
    new_session,
    record,
    rng,
    s3_request_id,
    sts_credentials,
    uid,
)

ATTACKER_IPS = ("5.188.10.77", "193.32.162.80", "91.240.118.172")
PROD_TRAIL = f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/acme-prod-trail"
DEV_TRAIL = f"arn:aws:cloudtrail:us-east-1:{DEV}:trail/acme-dev-trail"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
BILLING_POLICY = "arn:aws:iam::aws:policy/job-function/Billing"

#: slug -> (tactic, ATT&CK id, ATT&CK name)
TECHNIQUES: dict[str, tuple[str, str, str]] = {
    "valid_cloud_accounts": ("Initial Access", "T1078.004", "Valid Accounts: Cloud Accounts"),
    "account_discovery": ("Discovery", "T1087.004", "Account Discovery: Cloud Account"),
    "infrastructure_discovery": ("Discovery", "T1580", "Cloud Infrastructure Discovery"),
    "service_discovery": ("Discovery", "T1526", "Cloud Service Discovery"),
    "privilege_escalation": (
        "Privilege Escalation",
        "T1098.003",
        "Account Manipulation: Additional Cloud Roles",
    ),
    "additional_credentials": (
        "Persistence",
        "T1098.001",
        "Account Manipulation: Additional Cloud Credentials",
    ),
    "backdoor_role": ("Persistence", "T1136.003", "Create Account: Cloud Account"),
    "session_tokens": (
        "Lateral Movement",
        "T1550.001",
        "Use Alternate Authentication Material: Application Access Token",
    ),
    "data_from_cloud_storage": ("Collection", "T1530", "Data from Cloud Storage"),
    "transfer_to_cloud_account": ("Exfiltration", "T1537", "Transfer Data to Cloud Account"),
    "disable_cloud_logs": ("Defense Evasion", "T1562.008", "Impair Defenses: Disable or Modify Cloud Logs"),
    "mfa_modification": (
        "Defense Evasion",
        "T1556.006",
        "Modify Authentication Process: Multi-Factor Authentication",
    ),
    "password_guessing": ("Credential Access", "T1110.001", "Brute Force: Password Guessing"),
}


@dataclass
class Story:
    """Scripted events with what each one means."""

    events: list[tuple[int, Record]] = field(default_factory=list)
    malicious: list[Record] = field(default_factory=list)
    techniques: dict[str, list[Record]] = field(default_factory=lambda: {k: [] for k in TECHNIQUES})
    marks: dict[str, Any] = field(default_factory=dict)  # named events and facts for the answer key
    sessions: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    gaps: dict[str, list[tuple[int, int | None, str]]] = field(default_factory=dict)

    def add(self, t: int, rec: Record, *tags: str, mal: bool = True) -> Record:
        self.events.append((t, rec))
        if mal:
            self.malicious.append(rec)
        for tag in tags:
            self.techniques[tag].append(rec)
        return rec


def _ua(command: str) -> str:
    return ATTACKER_UA.format(command=command)


def _cmd(source: str, name: str) -> str:
    svc = source.split(".")[0].replace("monitoring", "cloudwatch")
    words = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return f"{svc}.{words.replace('20150331', '')}"


def build_story(w: World) -> Story:
    """Every scripted event of the week, tagged (deterministic for the world's seed)."""
    st = Story()
    r = rng(w.seed, "story")
    d0, d1, d2, d3, d4 = (BASE + i * DAY for i in range(5))
    dave, alice, frank, backup = (w.user(PROD, n) for n in ("dave", "alice", "frank", "svc-backup"))
    ip1, ip2, ip3 = ATTACKER_IPS

    def call(t: int, ident: Record, source: str, name: str, *tags: str, ip: str = ip1, account: str = PROD,
             region: str = "us-east-1", req: Record | None = None, resp: Record | None = None, ro: bool = True,
             error: tuple[str, str] | None = None, ua: str | None = None, mal: bool = True,
             extra: Record | None = None) -> Record:  # fmt: skip
        rec = record(r, t, ident, source, name, region, ip, ua or _ua(_cmd(source, name)), account,
                     req=req, resp=resp, read_only=ro, error=error, extra=extra)  # fmt: skip
        return st.add(t, rec, *tags, mal=mal)

    r = rng(w.seed, "story", "benign")
    # --- benign but notable ------------------------------------------------------------------
    t = d0 + 10 * HOUR + 12 * 60 + 7
    st.marks["root_sign_in_with_mfa"] = st.add(
        t, console_login(r, t, PROD, OFFICE_IP, BROWSER_UA, root=True, mfa=True), mal=False
    )
    root_s = new_session(r, t, HOUR, mfa=True)
    for i, (src, name) in enumerate(
        (("iam.amazonaws.com", "GetAccountSummary"), ("ce.amazonaws.com", "GetCostAndUsage"))
    ):
        call(t + 40 + 30 * i, ident_root(PROD, key_id(r, "ASIA"), root_s), src, name, ip=OFFICE_IP, ua=BROWSER_UA,
             mal=False, extra={"sessionCredentialFromConsole": "true"})  # fmt: skip
    # alice's ordinary IAM work from the CLI with an MFA session (GetSessionToken)
    t = d0 + 11 * HOUR + 5 * 60
    ms = new_session(r, t, 12 * HOUR, user=alice, mfa=True)
    call(t, ident_user(alice), "sts.amazonaws.com", "GetSessionToken", ip=OFFICE_IP, ua=CLI_UA.format(command="sts.get-session-token"),
         req={"durationSeconds": 43200, "serialNumber": alice.mfa}, resp={"credentials": sts_credentials(ms)}, mal=False)  # fmt: skip
    erin = w.user(PROD, "erin")
    admin_work: list[tuple[str, Record, Record | None, bool]] = [
        ("ListUsers", {}, None, True),
        ("CreateUser", {"userName": "erin", "path": "/developers/"},
         {"user": {"path": "/developers/", "userName": "erin", "userId": erin.user_id, "arn": erin.arn,
                   "createDate": java_time(t + 60)}}, False),  # fmt: skip
        ("AddUserToGroup", {"groupName": "developers", "userName": "erin"}, None, False),
        ("CreateLoginProfile", {"userName": "erin", "passwordResetRequired": True},
         {"loginProfile": {"userName": "erin", "createDate": java_time(t + 150), "passwordResetRequired": True}}, False),
        ("ListGroups", {}, None, True),
        ("ListAttachedUserPolicies", {"userName": "erin"}, None, True),
        ("UpdateUser", {"userName": "contractor-tim", "newUserName": "tim.contractor"}, None, False),
        ("ListAttachedUserPolicies", {"userName": "tim.contractor"}, None, True),
        ("TagUser", {"userName": "erin", "tags": [{"key": "team", "value": "payments"}]}, None, False),
    ]  # fmt: skip
    for i, (name, params, resp, ro) in enumerate(admin_work):
        ev = call(t + 30 + 40 * i, ident_user(alice, ms), "iam.amazonaws.com", name, ip=OFFICE_IP,
                  ua=CLI_UA.format(command=_cmd("iam", name)), req=params or None, resp=resp, ro=ro, mal=False)  # fmt: skip
        st.marks.setdefault("iam_admin_work", []).append(ev)
    # frank attaches the Billing job-function policy to himself (PCI DSS 10.2.5 example)
    t = d1 + 13 * HOUR + 20 * 60 + 3
    st.marks.setdefault("extra_sign_ins", []).append(
        st.add(t, console_login(r, t, PROD, OFFICE_IP, BROWSER_UA, user=frank, mfa=True), mal=False)
    )
    fs = new_session(r, t, 12 * HOUR, user=frank, mfa=True)
    st.marks["self_billing_policy"] = call(
        t + 158, ident_user(frank, fs), "iam.amazonaws.com", "AttachUserPolicy", ip=OFFICE_IP, ua="AWS Internal",
        req={"userName": "frank", "policyArn": BILLING_POLICY}, ro=False, mal=False,
        extra={"sessionCredentialFromConsole": "true"},
    )  # fmt: skip
    r = rng(w.seed, "story", "noise")
    # internet noise on Saturday: a sign-in attempt with a user name the account does not have
    t = BASE + 5 * DAY + 16 * HOUR + 4 * 60 + 51
    ev = console_login(r, t, PROD, "185.220.101.45", ATTACKER_BROWSER_UA, ok=False, unknown_name=True)
    st.marks["unknown_user_sign_in"] = st.add(t, ev, mal=False)
    r = rng(w.seed, "story", "service-events")
    # service events without a userIdentity type: KMS automatic key rotation
    for k, (acct, day) in enumerate(((PROD, d3), (DEV, d4))):
        t = day + 4 * HOUR + 10 * 60 + k
        key_arn = f"arn:aws:kms:{HOME}:{acct}:key/{uid(r)}"
        ev = record(r, t, {"accountId": acct, "invokedBy": "AWS Internal"}, "kms.amazonaws.com", "RotateKey", HOME,
                    "AWS Internal", "AWS Internal", acct, event_type="AwsServiceEvent", read_only=False,
                    extra={"resources": [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key_arn}],
                           "serviceEventDetails": {"keyId": key_arn.rsplit("/", 1)[1]}})  # fmt: skip
        st.marks.setdefault("service_events", []).append(st.add(t, ev, mal=False))

    r = rng(w.seed, "story", "wednesday")
    # --- the compromise: Wednesday 02:13 UTC, dave's key from Russia ---------------------------
    key = ident_user(dave)
    t = d2 + 2 * HOUR + 13 * 60 + 5
    st.marks["first_use"] = call(
        t, key, "sts.amazonaws.com", "GetCallerIdentity", "valid_cloud_accounts", "account_discovery"
    )
    recon: list[tuple[str, str, str, Record | None, bool, str]] = [
        ("iam.amazonaws.com", "ListUsers", "account_discovery", None, False, "us-east-1"),
        ("iam.amazonaws.com", "ListRoles", "account_discovery", None, False, "us-east-1"),
        ("iam.amazonaws.com", "GetAccountAuthorizationDetails", "account_discovery", None, False, "us-east-1"),
        ("iam.amazonaws.com", "ListGroupsForUser", "account_discovery", {"userName": "dave"}, True, "us-east-1"),
        ("iam.amazonaws.com", "ListAttachedUserPolicies", "account_discovery", {"userName": "dave"}, True, "us-east-1"),
        ("iam.amazonaws.com", "ListUserPolicies", "account_discovery", {"userName": "dave"}, True, "us-east-1"),
        ("iam.amazonaws.com", "GetUserPolicy", "account_discovery", {"userName": "dave", "policyName": "self-service-iam"}, True, "us-east-1"),
        ("s3.amazonaws.com", "ListBuckets", "service_discovery", {"Host": "s3.amazonaws.com"}, True, "us-east-1"),
        ("organizations.amazonaws.com", "DescribeOrganization", "account_discovery", None, False, "us-east-1"),
        ("cloudtrail.amazonaws.com", "DescribeTrails", "infrastructure_discovery", None, False, "us-east-1"),
        ("kms.amazonaws.com", "ListKeys", "infrastructure_discovery", None, False, HOME),
        ("guardduty.amazonaws.com", "ListDetectors", "infrastructure_discovery", None, False, HOME),
    ]  # fmt: skip
    for region in REGIONS:
        recon += [
            ("ec2.amazonaws.com", "DescribeInstances", "infrastructure_discovery", {"instancesSet": {}, "filterSet": {}}, True, region),
            ("secretsmanager.amazonaws.com", "ListSecrets", "service_discovery", None, False, region),
            ("rds.amazonaws.com", "DescribeDBInstances", "infrastructure_discovery", None, False, region),
        ]  # fmt: skip
    t += 35
    for source, name, tag, req, allowed, region in recon:
        t += r.randint(2, 7)
        action = f"{source.split('.')[0].replace('monitoring', 'cloudwatch')}:{name}"
        ev = call(t, key, source, name, tag, region=region, req=req,
                  error=None if allowed else denied(dave.arn, action))  # fmt: skip
        if not allowed:
            st.marks.setdefault("access_denied_burst", []).append(ev)
    t = d2 + 2 * HOUR + 19 * 60 + 10
    bg = w.role(PROD, "break-glass-admin")
    ev = record(r, t, key, "sts.amazonaws.com", "AssumeRole", "us-east-1", ip1, _ua("sts.assume-role"), PROD,
                req={"roleArn": bg.arn, "roleSessionName": "dave", "durationSeconds": 3600},
                error=("AccessDenied", f"User: {dave.arn} is not authorized to perform: sts:AssumeRole on resource: {bg.arn}"),
                version="1.08")  # fmt: skip
    st.marks["failed_assume_role"] = st.add(t, ev, "privilege_escalation")
    t = d2 + 2 * HOUR + 21 * 60 + 40
    st.marks["admin_policy"] = call(t, key, "iam.amazonaws.com", "AttachUserPolicy", "privilege_escalation",
                                    req={"userName": "dave", "policyArn": ADMIN_POLICY}, ro=False)  # fmt: skip
    for i, (source, name, tag, req) in enumerate((
        ("iam.amazonaws.com", "ListUsers", "account_discovery", None),
        ("iam.amazonaws.com", "ListRoles", "account_discovery", None),
        ("iam.amazonaws.com", "GetAccountAuthorizationDetails", "account_discovery", None),
        ("organizations.amazonaws.com", "ListAccounts", "account_discovery", None),
        ("cloudtrail.amazonaws.com", "DescribeTrails", "infrastructure_discovery", None),
        ("cloudtrail.amazonaws.com", "GetEventSelectors", "infrastructure_discovery", {"trailName": PROD_TRAIL}),
        ("iam.amazonaws.com", "ListAccessKeys", "account_discovery", {"userName": "svc-backup"}),
        ("iam.amazonaws.com", "ListMFADevices", "account_discovery", {"userName": "dave"}),
    )):  # fmt: skip
        call(t + 50 + 23 * i, key, source, name, tag, req=req)
    # persistence
    t = d2 + 2 * HOUR + 31 * 60 + 5
    new_key = key_id(r, "AKIA")
    st.marks["create_access_key"] = call(
        t, key, "iam.amazonaws.com", "CreateAccessKey", "additional_credentials", req={"userName": "svc-backup"}, ro=False,
        resp={"accessKey": {"userName": "svc-backup", "accessKeyId": new_key, "status": "Active", "createDate": java_time(t)}},
    )  # fmt: skip
    t += 127
    st.marks["create_login_profile"] = call(
        t, key, "iam.amazonaws.com", "CreateLoginProfile", "additional_credentials", ro=False,
        req={"userName": "svc-backup", "passwordResetRequired": False},
        resp={"loginProfile": {"userName": "svc-backup", "createDate": java_time(t), "passwordResetRequired": False}},
    )  # fmt: skip
    t = d2 + 2 * HOUR + 36 * 60 + 50
    door = w.role(PROD, "ops-support-readonly")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
                                                                "Action": "sts:AssumeRole"}]})  # fmt: skip
    st.marks["backdoor_role"] = call(
        t, key, "iam.amazonaws.com", "CreateRole", "backdoor_role", ro=False,
        req={"roleName": door.name, "assumeRolePolicyDocument": trust, "description": "Vendor support access"},
        resp={"role": {"path": "/", "roleName": door.name, "roleId": door.role_id, "arn": door.arn,
                       "createDate": java_time(t), "assumeRolePolicyDocument": trust.replace('"', "%22")}},
    )  # fmt: skip
    call(t + 25, key, "iam.amazonaws.com", "AttachRolePolicy", "backdoor_role", ro=False,
         req={"roleName": door.name, "policyArn": ADMIN_POLICY})  # fmt: skip
    # a federation token (FederatedUser session)
    t = d2 + 2 * HOUR + 41 * 60 + 2
    fed = new_session(r, t, 12 * HOUR, user=dave, name="backup", federated=True)
    pol = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    ev = call(t, key, "sts.amazonaws.com", "GetFederationToken", "session_tokens", ro=True,
              req={"name": "backup", "policy": pol, "durationSeconds": 43200},
              resp={"credentials": sts_credentials(fed),
                    "federatedUser": {"federatedUserId": f"{PROD}:backup", "arn": f"arn:aws:sts::{PROD}:federated-user/backup"},
                    "packedPolicySize": 6})  # fmt: skip
    st.marks["federation_token"] = ev
    _session(st, fed, "FederatedUser", None, dave.key, [ev], PROD, dave.arn, 1)
    for i, (src, name, tag) in enumerate((("sts.amazonaws.com", "GetCallerIdentity", "account_discovery"),
                                          ("s3.amazonaws.com", "ListBuckets", "service_discovery"))):  # fmt: skip
        call(t + 60 + 20 * i, ident_federated(fed), src, name, tag, ua=ATTACKER_BOTO,
             req={"Host": "s3.amazonaws.com"} if name == "ListBuckets" else None)  # fmt: skip
    # cross-account AssumeRole into development: one copy per account, shared ids
    t = d2 + 2 * HOUR + 44 * 60 + 20
    oaar = w.role(DEV, "OrganizationAccountAccessRole")
    k1 = new_session(r, t, HOUR, role=oaar, name="dave")
    req_id, shared = uid(r), uid(r)
    a = st.add(
        t,
        assume_role_record(
            r, t, key, k1, ip1, _ua("sts.assume-role"), PROD, request_id=req_id, shared=shared
        ),
        "session_tokens",
    )
    b = st.add(t, assume_role_record(r, t, ident_account(dave.user_id, PROD), k1, ip1, _ua("sts.assume-role"), DEV,
                                     request_id=req_id, shared=shared), "session_tokens")  # fmt: skip
    st.marks["cross_account_assume_role"] = [a, b]
    _session(st, k1, "AssumedRole", oaar.arn, dave.key, [a, b], DEV, dave.arn, 1)
    for i, (src, name, tag, region, req) in enumerate((
        ("sts.amazonaws.com", "GetCallerIdentity", "account_discovery", "us-east-1", None),
        ("iam.amazonaws.com", "ListRoles", "account_discovery", "us-east-1", None),
        ("ec2.amazonaws.com", "DescribeSnapshots", "infrastructure_discovery", HOME, {"ownersSet": {"items": [{"owner": "self"}]}}),
    )):  # fmt: skip
        call(
            t + 40 + 30 * i,
            ident_role(k1),
            src,
            name,
            tag,
            account=DEV,
            region=region,
            req=req,
            ua=ATTACKER_BOTO,
        )
    # role chain inside development
    t = d2 + 2 * HOUR + 47 * 60 + 30
    data_admin = w.role(DEV, "dev-data-admin")
    k2 = new_session(r, t, HOUR, role=data_admin, name="dave-chain")
    ev = st.add(t, assume_role_record(r, t, ident_role(k1), k2, ip1, ATTACKER_BOTO, DEV), "session_tokens")
    st.marks["role_chain"] = ev
    _session(st, k2, "AssumedRole", data_admin.arn, k1.key, [ev], DEV, dave.arn, 2)
    call(
        t + 40,
        ident_role(k2),
        "sts.amazonaws.com",
        "GetCallerIdentity",
        "account_discovery",
        account=DEV,
        ua=ATTACKER_BOTO,
    )
    snap = "snap-0" + rng(w.seed, "snap").getrandbits(64).to_bytes(8, "big").hex()[:16]
    call(t + 95, ident_role(k2), "ec2.amazonaws.com", "DescribeSnapshots", "infrastructure_discovery", account=DEV,
         region=HOME, ua=ATTACKER_BOTO, req={"snapshotSet": {"items": [{"snapshotId": snap}]}})  # fmt: skip
    t = d2 + 2 * HOUR + 50 * 60 + 30
    sel = [
        {
            "readWriteType": "All",
            "includeManagementEvents": False,
            "dataResources": [],
            "excludeManagementEventSources": [],
        }
    ]
    st.marks["put_event_selectors"] = call(
        t, ident_role(k2), "cloudtrail.amazonaws.com", "PutEventSelectors", "disable_cloud_logs", account=DEV, ro=False,
        ua=ATTACKER_BOTO, req={"trailName": "acme-dev-trail", "eventSelectors": sel},
        resp={"trailARN": DEV_TRAIL, "eventSelectors": sel},
    )  # fmt: skip
    st.gaps["acme-dev-trail"] = [(t, None, "management")]
    t = d2 + 2 * HOUR + 52 * 60 + 45
    st.marks["snapshot_shared"] = call(
        t, ident_role(k2), "ec2.amazonaws.com", "ModifySnapshotAttribute", "transfer_to_cloud_account", account=DEV,
        region=HOME, ro=False, ua=ATTACKER_BOTO,
        req={"snapshotId": snap, "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE}]}},
             "attributeType": "CREATE_VOLUME_PERMISSION"},
        resp={"requestId": uid(r), "_return": True},
    )  # fmt: skip
    # the chained session used after it expired
    t = k2.expires + 17 * 60 + 12
    st.marks["expired_session_use"] = call(
        t, ident_role(k2), "sts.amazonaws.com", "GetCallerIdentity", "account_discovery", account=DEV, ua=ATTACKER_BOTO,
        error=("ExpiredToken", "The security token included in the request is expired"),
    )  # fmt: skip
    st.marks["expired_session"] = k2
    # S3 downloads from Romania, then logging stopped and dave's MFA removed
    t = d2 + 3 * HOUR + 5 * 60 + 10
    call(
        t,
        key,
        "s3.amazonaws.com",
        "ListBuckets",
        "service_discovery",
        ip=ip2,
        req={"Host": "s3.amazonaws.com"},
    )
    bucket = "acme-prod-customer-data"
    t += 40
    _s3(
        st,
        r,
        t,
        key,
        "ListObjects",
        bucket,
        {"list-type": "2", "prefix": "exports/"},
        ip2,
        PROD,
        "service_discovery",
    )
    for i in range(36):
        t += r.randint(4, 25)
        obj = f"exports/customers-2024-{1 + i // 9:02d}-part-{i % 9:02d}.csv.gz"
        _s3(st, r, t, key, "GetObject", bucket, {"key": obj}, ip2, PROD, "data_from_cloud_storage")
    t = d2 + 3 * HOUR + 24 * 60 + 40
    st.marks["stop_logging"] = call(t, key, "cloudtrail.amazonaws.com", "StopLogging", "disable_cloud_logs", ip=ip2,
                                    ro=False, req={"name": PROD_TRAIL})  # fmt: skip
    stop_t = t
    t += 95
    st.marks["deactivate_mfa"] = call(t, key, "iam.amazonaws.com", "DeactivateMFADevice", "mfa_modification", ip=ip2,
                                      ro=False, req={"userName": "dave", "serialNumber": dave.mfa})  # fmt: skip
    t = d2 + 3 * HOUR + 40 * 60 + 3
    ev = st.add(
        t, console_login(r, t, PROD, ip2, ATTACKER_BROWSER_UA, user=backup, mfa=False), "valid_cloud_accounts"
    )
    st.marks["backup_console_sign_in"] = ev
    cs = new_session(r, t, 12 * HOUR, user=backup)
    for i, (src, name, tag) in enumerate((("iam.amazonaws.com", "ListUsers", "account_discovery"),
                                          ("iam.amazonaws.com", "GetAccountSummary", "account_discovery"),
                                          ("s3.amazonaws.com", "ListBuckets", "service_discovery"))):  # fmt: skip
        call(t + 50 + 35 * i, ident_user(backup, cs), src, name, tag, ip=ip2, ua=ATTACKER_BROWSER_UA,
             req={"Host": "s3.amazonaws.com"} if name == "ListBuckets" else None,
             extra={"sessionCredentialFromConsole": "true"})  # fmt: skip
    st.credentials.append({"kind": "console-session", "user": backup.arn, "access_key_id": cs.key,
                           "created_by": ev, "account": PROD})  # fmt: skip
    r = rng(w.seed, "story", "thursday")
    # --- Thursday: root password guessed, then a root sign-in without MFA --------------------
    t = d3 + 2 * HOUR + 55 * 60 + 10
    for k in range(3):
        ev = st.add(
            t, console_login(r, t, PROD, ip2, ATTACKER_BROWSER_UA, root=True, ok=False), "password_guessing"
        )
        st.marks.setdefault("root_failed_sign_ins", []).append(ev)
        t += 38 + 4 * k
    t = d3 + 2 * HOUR + 58 * 60 + 5
    ev = st.add(
        t, console_login(r, t, PROD, ip2, ATTACKER_BROWSER_UA, root=True, mfa=False), "valid_cloud_accounts"
    )
    st.marks["root_sign_in_without_mfa"] = ev
    rs = new_session(r, t, HOUR)
    rkey = key_id(r, "ASIA")
    for i, (src, name, tag) in enumerate((("iam.amazonaws.com", "GetAccountSummary", "account_discovery"),
                                          ("iam.amazonaws.com", "ListUsers", "account_discovery"),
                                          ("iam.amazonaws.com", "ListAccountAliases", "account_discovery"))):  # fmt: skip
        call(t + 45 + 50 * i, ident_root(PROD, rkey, rs), src, name, tag, ip=ip2, ua=ATTACKER_BROWSER_UA,
             extra={"sessionCredentialFromConsole": "true"})  # fmt: skip
    st.credentials.append({"kind": "root-console-session", "user": f"arn:aws:iam::{PROD}:root", "access_key_id": rkey,
                           "created_by": ev, "account": PROD})  # fmt: skip
    # alice notices and restarts the production trail
    t = d3 + 8 * HOUR + 47 * 60 + 30
    alice_s = new_session(r, t - 1800, 12 * HOUR, user=alice, mfa=True)
    st.marks["start_logging"] = call(t, ident_user(alice, alice_s), "cloudtrail.amazonaws.com", "StartLogging",
                                     ip=OFFICE_IP, ua="AWS Internal", ro=False, req={"name": PROD_TRAIL}, mal=False,
                                     extra={"sessionCredentialFromConsole": "true"})  # fmt: skip
    st.gaps["acme-prod-trail"] = [(stop_t, t, "all")]
    r = rng(w.seed, "story", "friday")
    # --- Friday: the new key and the backdoor role, from Hong Kong ---------------------------
    t = d4 + 1 * HOUR + 10 * 60 + 4
    bk = ident_user(backup, key=new_key)
    first_new = call(
        t,
        bk,
        "sts.amazonaws.com",
        "GetCallerIdentity",
        "valid_cloud_accounts",
        "account_discovery",
        ip=ip3,
        ua=ATTACKER_BOTO,
    )
    st.credentials.append({"kind": "access-key", "user": backup.arn, "access_key_id": new_key,
                           "created_by": st.marks["create_access_key"], "first_used": first_new, "account": PROD})  # fmt: skip
    st.credentials.append({"kind": "login-profile", "user": backup.arn, "access_key_id": None,
                           "created_by": st.marks["create_login_profile"], "first_used": st.marks["backup_console_sign_in"],
                           "account": PROD})  # fmt: skip
    call(
        t + 30,
        bk,
        "s3.amazonaws.com",
        "ListBuckets",
        "service_discovery",
        ip=ip3,
        ua=ATTACKER_BOTO,
        req={"Host": "s3.amazonaws.com"},
    )
    t += 60
    for i in range(6):
        t += r.randint(5, 30)
        _s3(
            st,
            r,
            t,
            bk,
            "GetObject",
            bucket,
            {"key": f"exports/customers-2024-05-part-{i:02d}.csv.gz"},
            ip3,
            PROD,
            "data_from_cloud_storage",
        )
    t = d4 + 1 * HOUR + 30 * 60 + 9
    k4 = new_session(r, t, HOUR, role=door, name="support")
    outsider = ident_account(key_id(rng(w.seed, "outsider"), "AIDA", 17), OUTSIDE)
    ev = st.add(
        t,
        assume_role_record(r, t, outsider, k4, ip3, ATTACKER_BOTO, PROD, shared=uid(r)),
        "valid_cloud_accounts",
    )
    st.marks["backdoor_role_use"] = ev
    st.credentials.append({"kind": "backdoor-role-session", "user": door.arn, "access_key_id": k4.key, "created_by": ev,
                           "account": PROD})  # fmt: skip
    for i, (src, name, tag) in enumerate((("sts.amazonaws.com", "GetCallerIdentity", "account_discovery"),
                                          ("iam.amazonaws.com", "ListUsers", "account_discovery"),
                                          ("s3.amazonaws.com", "ListBuckets", "service_discovery"))):  # fmt: skip
        call(t + 40 + 30 * i, ident_role(k4), src, name, tag, ip=ip3, ua=ATTACKER_BOTO,
             req={"Host": "s3.amazonaws.com"} if name == "ListBuckets" else None)  # fmt: skip
    return st


def _s3(
    st: Story,
    r: Any,
    t: int,
    ident: Record,
    name: str,
    bucket: str,
    req: Record,
    ip: str,
    account: str,
    tag: str,
) -> None:
    """An S3 data event (recorded only by trails with data events)."""
    req = {"bucketName": bucket, "Host": f"{bucket}.s3.{HOME}.amazonaws.com", **req}
    arn = f"arn:aws:s3:::{bucket}/{req['key']}" if "key" in req else f"arn:aws:s3:::{bucket}"
    res = [{"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
    if "key" in req:
        res.insert(0, {"type": "AWS::S3::Object", "ARN": arn})
    extra = {
        "eventCategory": "Data",
        "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                                "x-amz-id-2": key_id(r, "", 40),
                                "bytesTransferredOut": r.randrange(4_000_000, 60_000_000) if name == "GetObject" else 4810},
        "resources": res,
    }  # fmt: skip
    ua = (
        "["
        + (ATTACKER_UA.format(command="s3.cp") if ident.get("userName") == "dave" else ATTACKER_BOTO)
        + "]"
    )
    rec = record(r, t, ident, "s3.amazonaws.com", name, HOME, ip, ua, account, req=req, extra=extra,
                 request_id=s3_request_id(r), version="1.10")  # fmt: skip
    rec["managementEvent"] = False
    st.add(t, rec, tag)


def _session(st: Story, s: Session, kind: str, role_arn: str | None, parent: str, issued: list[Record],
             account: str, origin: str, depth: int) -> None:  # fmt: skip
    st.sessions.append({
        "access_key_id": s.key, "type": kind, "session_name": s.name, "role_arn": role_arn, "account": account,
        "parent_access_key_id": parent, "issued_by": issued, "origin": origin, "chain_depth": depth,
        "created": s.created, "expires": s.expires,
    })  # fmt: skip


__all__ = ["ATTACKER_IPS", "TECHNIQUES", "Story", "build_story"]
