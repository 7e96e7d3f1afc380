"""Hand-built CloudTrail records for session tracing tests: each story of cloudtrail-reference §4
(role chains, cross-account copies, console switch-role, Identity Center, GetSessionToken,
GetFederationToken, AssumeRoot, failures, expiry, ambiguity, service credentials), as dicts in
the shapes AWS writes them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import iamforensics as ifx

A, B, C, X = "111111111111", "222222222222", "333333333333", "999999999999"
HOME_IP, OFFICE_IP, EVIL_IP, OTHER_IP = "81.2.69.160", "81.2.69.170", "5.188.10.77", "193.32.162.80"
CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64.ubuntu.22 prompt/off command/s3.ls"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
IDSTORE = "arn:aws:identitystore::111111111111:identitystore/d-1234567890"
DAN_IDC = "93671b2c3d-4e5f6a7b-dan"

_ids = itertools.count(1)


def eid() -> str:
    return f"5e551000-0000-4000-8000-{next(_ids):012d}"


def user(name: str, key: str, acct: str = A) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper():0<16}"[:20],
        "arn": f"arn:aws:iam::{acct}:user/{name}",
        "accountId": acct,
        "accessKeyId": key,
        "userName": name,
    }


def user_session(name: str, key: str, created: str, mfa: bool, acct: str = A) -> dict[str, Any]:
    d = user(name, key, acct)
    d["sessionContext"] = {
        "sessionIssuer": {},
        "webIdFederationData": {},
        "attributes": {"creationDate": created, "mfaAuthenticated": str(mfa).lower()},
    }
    return d


def role_arn(name: str, acct: str, path: str = "/") -> str:
    return f"arn:aws:iam::{acct}:role{path}{name}"


def role_session(
    name: str,
    acct: str,
    session: str,
    key: str | None,
    created: str | None,
    *,
    path: str = "/",
    mfa: bool = False,
    **ctx: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"AROA{name.upper():0<16}"[:20] + f":{session}",
        "arn": f"arn:aws:sts::{acct}:assumed-role/{name}/{session}",
        "accountId": acct,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{name.upper():0<16}"[:20],
                "arn": role_arn(name, acct, path),
                "accountId": acct,
                "userName": name,
            },
            "webIdFederationData": {},
            "attributes": {"mfaAuthenticated": str(mfa).lower()},
        },
    }
    if created is not None:
        d["sessionContext"]["attributes"]["creationDate"] = created
    if key is not None:
        d["accessKeyId"] = key
    for k, v in ctx.items():
        if k in ("onBehalfOf", "inScopeOf"):
            d[k] = v
        else:
            d["sessionContext"][k] = v
    return d


def rec(
    t: str,
    name: str,
    source: str,
    ident: dict[str, Any] | None,
    *,
    ip: str = HOME_IP,
    ua: str = CLI,
    recipient: str = A,
    req: Any = None,
    resp: Any = None,
    err: str | None = None,
    read_only: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": t,
        "eventID": eid(),
        "eventSource": source,
        "eventName": name,
        "eventType": "AwsApiCall",
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": req,
        "responseElements": resp,
        "requestID": eid(),
        "readOnly": name.startswith(("Get", "List", "Describe")) if read_only is None else read_only,
        "recipientAccountId": recipient,
    }
    if ident is not None:
        r["userIdentity"] = ident
    if err:
        r["errorCode"], r["errorMessage"] = err, f"{err}: denied"
    r.update(extra)
    return r


def creds(key: str, expiration: str = "Mar 1, 2024, 11:00:00 PM") -> dict[str, Any]:
    return {"accessKeyId": key, "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLETOKEN", "expiration": expiration}


def assume_role(
    t: str,
    caller: dict[str, Any],
    role: str,
    session: str,
    key: str | None,
    *,
    recipient: str = A,
    ip: str = HOME_IP,
    ua: str = CLI,
    expiration: str = "Mar 1, 2024, 11:00:00 PM",
    err: str | None = None,
    extra_req: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    req = {"roleArn": role, "roleSessionName": session} | (extra_req or {})
    acct, rname = role.split(":")[4], role.rsplit("/", 1)[1]
    resp = None
    if not err:
        resp = {
            "credentials": creds(key, expiration) if key else None,
            "assumedRoleUser": {
                "assumedRoleId": f"AROA{rname.upper():0<16}"[:20] + f":{session}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{rname}/{session}",
            },
        }
        if key is None:
            del resp["credentials"]
    return rec(
        t,
        "AssumeRole",
        "sts.amazonaws.com",
        caller,
        ip=ip,
        ua=ua,
        recipient=recipient,
        req=req,
        resp=resp,
        err=err,
        read_only=True,
        resources=[{"ARN": role, "accountId": acct, "type": "AWS::IAM::Role"}],
        **extra,
    )


def console_login(t: str, name: str, *, mfa: bool, ok: bool = True, ip: str = OFFICE_IP) -> dict[str, Any]:
    ident = user(name, "", A)
    ident.pop("accessKeyId")
    r = rec(
        t,
        "ConsoleLogin",
        "signin.amazonaws.com",
        ident,
        ip=ip,
        ua=BROWSER,
        resp={"ConsoleLogin": "Success" if ok else "Failure"},
        read_only=False,
        eventType="AwsConsoleSignIn",
        additionalEventData={"LoginTo": "https://console.aws.amazon.com", "MFAUsed": "Yes" if mfa else "No"},
    )
    if not ok:
        r["errorMessage"] = "Failed authentication"
    return r


def story_records() -> dict[str, list[dict[str, Any]]]:
    """Every story, by name (each uses its own identities and keys); same event ids every call."""
    global _ids
    _ids = itertools.count(1)
    try:
        return _stories()
    finally:
        _ids = itertools.count(100000)  # records made outside the stories never reuse their ids


def _stories() -> dict[str, list[dict[str, Any]]]:
    s: dict[str, list[dict[str, Any]]] = {}

    # 1. IAM user key -> AssumeRole (path kept) -> chained AssumeRole; sourceIdentity; a failure
    alice = user("alice", "AKIAALICE00000000001")
    deployer = role_arn("Deployer", A, "/ops/")
    d1 = role_session("Deployer", A, "alice-deploy", "ASIADEPLOY0000000001", "2024-03-01T09:00:00Z",
                      path="/ops/", sourceIdentity="alice")  # fmt: skip
    s["chain"] = [
        rec("2024-03-01T08:59:00Z", "GetCallerIdentity", "sts.amazonaws.com", alice),
        assume_role(
            "2024-03-01T09:00:00Z",
            alice,
            deployer,
            "alice-deploy",
            "ASIADEPLOY0000000001",
            extra_req={"sourceIdentity": "alice"},
        ),  # fmt: skip
        rec("2024-03-01T09:01:00Z", "ListBuckets", "s3.amazonaws.com", d1),
        rec("2024-03-01T09:02:00Z", "ListBuckets", "s3.amazonaws.com", d1),
        assume_role("2024-03-01T09:03:00Z", d1, role_arn("DataAdmin", A), "chain", None, err="AccessDenied"),
        assume_role(
            "2024-03-01T09:05:00Z",
            d1,
            role_arn("DataAdmin", A),
            "chain",
            "ASIACHAIN00000000001",
            extra_req={"sourceIdentity": "alice"},
        ),  # fmt: skip
        rec(
            "2024-03-01T09:06:00Z",
            "GetObject",
            "s3.amazonaws.com",
            role_session(
                "DataAdmin",
                A,
                "chain",
                "ASIACHAIN00000000001",
                "2024-03-01T09:05:00Z",
                sourceIdentity="alice",
            ),
            ip=OTHER_IP,
        ),  # fmt: skip
    ]

    # 2. cross-account AssumeRole: caller's copy and the role owner's (AWSAccount) copy
    bob = user("bob", "AKIABOB0000000000001")
    shared, req_id = "5a5a5a5a-0000-4000-8000-000000000001", "5a5a5a5a-0000-4000-8000-0000000000ff"
    cross = role_arn("CrossAdmin", B)
    caller_copy = assume_role("2024-03-01T10:00:00Z", bob, cross, "bob-x", "ASIACROSS00000000001",
                              sharedEventID=shared)  # fmt: skip
    owner_copy = assume_role("2024-03-01T10:00:00Z", {"type": "AWSAccount", "principalId": bob["principalId"],
                             "accountId": A}, cross, "bob-x", "ASIACROSS00000000001", recipient=B,
                             sharedEventID=shared)  # fmt: skip
    caller_copy["requestID"] = owner_copy["requestID"] = req_id
    s["cross"] = [
        rec("2024-03-01T09:58:00Z", "GetCallerIdentity", "sts.amazonaws.com", bob),
        caller_copy,
        owner_copy,
        rec("2024-03-01T10:01:00Z", "DescribeInstances", "ec2.amazonaws.com",
            role_session("CrossAdmin", B, "bob-x", "ASIACROSS00000000001", "2024-03-01T10:00:00Z"), recipient=B),
    ]  # fmt: skip
    # ... and only the owner's copy, from an account outside the case
    vendor = {"type": "AWSAccount", "principalId": "AROAVENDOR0000000000:scanner", "accountId": X}
    s["vendor"] = [
        assume_role("2024-03-01T10:30:00Z", vendor, role_arn("Audit", A), "scanner", "ASIAVENDOR0000000001",
                    ip="3.91.200.10", sharedEventID="5a5a5a5a-0000-4000-8000-000000000002"),  # fmt: skip
        rec("2024-03-01T10:31:00Z", "ListUsers", "iam.amazonaws.com",
            role_session("Audit", A, "scanner", "ASIAVENDOR0000000001", "2024-03-01T10:30:00Z"), ip="3.91.200.10"),
    ]  # fmt: skip

    # 3. console sign-in with MFA, then switch-role into B: the console signs with new keys
    carol_con = user_session("carol", "ASIACAROLCONSOLE0001", "2024-03-01T11:00:00Z", True)
    switch_caller = dict(carol_con, invokedBy="AWS Internal")
    x_admin = role_arn("CrossAccountAdmin", B)
    sw_shared = "5a5a5a5a-0000-4000-8000-000000000003"
    sw_ident = role_session("CrossAccountAdmin", B, "carol", None, None, mfa=True)
    del sw_ident["sessionContext"]
    s["switch"] = [
        console_login("2024-03-01T10:59:30Z", "carol", mfa=False, ok=False),
        console_login("2024-03-01T11:00:00Z", "carol", mfa=True),
        rec("2024-03-01T11:05:00Z", "DescribeInstances", "ec2.amazonaws.com", carol_con, ip=OFFICE_IP, ua=BROWSER,
            sessionCredentialFromConsole="true"),
        assume_role("2024-03-01T11:20:00Z", switch_caller, x_admin, "carol", "ASIASWITCHISSUED0001",
                    ip="AWS Internal", ua="AWS Internal", sharedEventID=sw_shared),
        assume_role("2024-03-01T11:20:00Z", {"type": "AWSAccount", "principalId": carol_con["principalId"],
                    "accountId": A}, x_admin, "carol", "ASIASWITCHISSUED0001", recipient=B, ip="AWS Internal",
                    ua="AWS Internal", sharedEventID=sw_shared),
        rec("2024-03-01T11:20:00Z", "SwitchRole", "signin.amazonaws.com", sw_ident, ip=OFFICE_IP, ua=BROWSER,
            recipient=B, resp={"SwitchRole": "Success"}, eventType="AwsConsoleSignIn",
            additionalEventData={"SwitchFrom": carol_con["arn"]}),
        rec("2024-03-01T11:21:00Z", "ListRoles", "iam.amazonaws.com",
            role_session("CrossAccountAdmin", B, "carol", "ASIASWITCHUSED000001", "2024-03-01T11:20:00Z", mfa=True),
            ip=OFFICE_IP, ua=BROWSER, recipient=B),
        rec("2024-03-01T11:22:00Z", "ListUsers", "iam.amazonaws.com",
            role_session("CrossAccountAdmin", B, "carol", "ASIASWITCHUSED000002", "2024-03-01T11:20:00Z", mfa=True),
            ip=OFFICE_IP, ua=BROWSER, recipient=B),
    ]  # fmt: skip

    # 4. Identity Center: GetRoleCredentials (IdC account) + AssumeRoleWithSAML (member C) + new key
    idc_user = {"type": "IdentityCenterUser", "accountId": A, "credentialId": "cred-1",
                "onBehalfOf": {"userId": DAN_IDC, "identityStoreArn": IDSTORE}}  # fmt: skip
    sso_role = role_arn("AWSReservedSSO_AdministratorAccess_0123456789abcdef", C,
                        "/aws-reserved/sso.amazonaws.com/eu-west-2/")  # fmt: skip
    saml = rec("2024-03-01T12:00:00Z", "AssumeRoleWithSAML", "sts.amazonaws.com",
               {"type": "SAMLUser", "principalId": "Q2lkcA==:dan@example.com", "userName": "dan@example.com",
                "identityProvider": "Q2lkcA=="}, recipient=C, ua=BROWSER,
               req={"roleArn": sso_role, "roleSessionName": "dan@example.com", "durationSeconds": 3600,
                    "principalArn": f"arn:aws:iam::{C}:saml-provider/AWSSSO_0a1b2c3d_DO_NOT_DELETE"},
               resp={"credentials": creds("ASIASAMLISSUED000001", "Mar 1, 2024, 1:00:00 PM"),
                     "assumedRoleUser": {"arn": f"arn:aws:sts::{C}:assumed-role/"
                                                "AWSReservedSSO_AdministratorAccess_0123456789abcdef/dan@example.com"},
                     "subject": "dan@example.com"}, read_only=True)  # fmt: skip
    sso_sess = role_session("AWSReservedSSO_AdministratorAccess_0123456789abcdef", C, "dan@example.com",
                            "ASIASAMLUSED00000001", "2024-03-01T12:00:00Z",
                            path="/aws-reserved/sso.amazonaws.com/eu-west-2/",
                            onBehalfOf={"userId": DAN_IDC, "identityStoreArn": IDSTORE})  # fmt: skip
    s["identity-center"] = [
        rec("2024-03-01T11:59:58Z", "GetRoleCredentials", "sso.amazonaws.com", idc_user, ua=BROWSER,
            eventType="AwsServiceEvent", read_only=True,
            serviceEventDetails={"role_name": "AdministratorAccess", "account_id": C}),
        saml,
        rec("2024-03-01T12:01:00Z", "GetCallerIdentity", "sts.amazonaws.com", sso_sess, recipient=C, ua=BROWSER),
    ]  # fmt: skip

    # 5. GetSessionToken with MFA, then IAM writes (not flagged: MFA)
    erin = user("erin", "AKIAERIN000000000001")
    s["session-token"] = [
        rec("2024-03-01T13:00:00Z", "GetSessionToken", "sts.amazonaws.com", erin, read_only=True,
            req={"durationSeconds": 3600, "serialNumber": f"arn:aws:iam::{A}:mfa/erin"},
            resp={"credentials": creds("ASIAERINSESSION00001", "Mar 1, 2024, 2:00:00 PM")}),
        rec("2024-03-01T13:01:00Z", "CreateUser", "iam.amazonaws.com",
            user_session("erin", "ASIAERINSESSION00001", "2024-03-01T13:00:00Z", True), req={"userName": "new"}),
    ]  # fmt: skip

    # 6. GetFederationToken, then an IAM write without MFA (flagged)
    frank = user("frank", "AKIAFRANK00000000001")
    fed = {"type": "FederatedUser", "principalId": f"{A}:fed1", "arn": f"arn:aws:sts::{A}:federated-user/fed1",
           "accountId": A, "accessKeyId": "ASIAFEDERATED0000001",
           "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": frank["principalId"],
                                                "arn": frank["arn"], "accountId": A, "userName": "frank"},
                              "webIdFederationData": {},
                              "attributes": {"creationDate": "2024-03-01T14:00:00Z", "mfaAuthenticated": "false"}}}  # fmt: skip
    s["federation"] = [
        rec("2024-03-01T14:00:00Z", "GetFederationToken", "sts.amazonaws.com", frank,
            req={"name": "fed1", "policy": '{"Version":"2012-10-17"}'},
            resp={"credentials": creds("ASIAFEDERATED0000001", "Mar 2, 2024, 2:00:00 AM"),
                  "federatedUser": {"federatedUserId": f"{A}:fed1", "arn": f"arn:aws:sts::{A}:federated-user/fed1"}}),
        rec("2024-03-01T14:01:00Z", "CreateAccessKey", "iam.amazonaws.com", fed, req={"userName": "frank"}),
    ]  # fmt: skip

    # 7. AssumeRoot from a role session in A into member account B
    gina = user("gina", "AKIAGINA000000000001")
    org = role_session("OrgAdmin", A, "gina", "ASIAORGADMIN00000001", "2024-03-01T15:00:00Z")
    root_b = {"type": "Root", "principalId": B, "arn": f"arn:aws:iam::{B}:root", "accountId": B,
              "accessKeyId": "ASIAROOTTASK00000001",
              "sessionContext": {"attributes": {"creationDate": "2024-03-01T15:01:00Z", "mfaAuthenticated": "false"}}}  # fmt: skip
    s["assume-root"] = [
        assume_role("2024-03-01T15:00:00Z", gina, role_arn("OrgAdmin", A), "gina", "ASIAORGADMIN00000001"),
        rec("2024-03-01T15:01:00Z", "AssumeRoot", "sts.amazonaws.com", org, read_only=True,
            req={"targetPrincipal": B, "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}},
            resp={"credentials": creds("ASIAROOTTASK00000001", "Mar 1, 2024, 3:16:00 PM")}),
        rec("2024-03-01T15:02:00Z", "DeleteBucketPolicy", "s3.amazonaws.com", root_b, recipient=B,
            req={"bucketName": "locked"}),
    ]  # fmt: skip

    # 8. used after expiry: an ExpiredToken error and a success after the returned expiration
    hank = user("hank", "AKIAHANK000000000001")
    hs = role_session("Short", A, "hank", "ASIASHORT00000000001", "2024-03-01T16:00:00Z")
    s["expiry"] = [
        assume_role("2024-03-01T16:00:00Z", hank, role_arn("Short", A), "hank", "ASIASHORT00000000001",
                    expiration="Mar 1, 2024, 4:15:00 PM", extra_req={"durationSeconds": 900}),
        rec("2024-03-01T16:05:00Z", "ListBuckets", "s3.amazonaws.com", hs),
        rec("2024-03-01T16:20:00Z", "GetCallerIdentity", "sts.amazonaws.com", hs, err="ExpiredToken"),
        rec("2024-03-01T16:21:00Z", "ListBuckets", "s3.amazonaws.com", hs),
    ]  # fmt: skip

    # 9. ambiguity: two sessions of one role and name issued at the same second by two people;
    # a key nobody issued in the case, with that creationDate, matches both
    ivan, judy = user("ivan", "AKIAIVAN000000000001"), user("judy", "AKIAJUDY000000000001")
    twin = role_arn("Shared", A)
    s["ambiguous"] = [
        assume_role("2024-03-01T17:00:00Z", ivan, twin, "same", "ASIATWIN0000000000I1"),
        assume_role("2024-03-01T17:00:00Z", judy, twin, "same", "ASIATWIN0000000000J1"),
        rec("2024-03-01T17:01:00Z", "ListBuckets", "s3.amazonaws.com",
            role_session("Shared", A, "same", "ASIATWINCONSOLE00001", "2024-03-01T17:00:00Z")),
        rec("2024-03-01T17:02:00Z", "ListBuckets", "s3.amazonaws.com",
            role_session("Shared", A, "same", None, "2024-03-01T17:00:00Z")),
    ]  # fmt: skip

    # 10. EC2 instance profile: issued by EC2, used inside the VPC, then from kate's address
    kate = user("kate", "AKIAKATE000000000001")
    inst = role_session("WebRole", A, "i-0abc1234def567890", "ASIAINSTANCE00000001", "2024-03-01T18:00:00Z",
                        ec2RoleDelivery="2.0")  # fmt: skip
    s["instance"] = [
        assume_role("2024-03-01T18:00:00Z", {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                    role_arn("WebRole", A), "i-0abc1234def567890", "ASIAINSTANCE00000001",
                    ip="ec2.amazonaws.com", ua="ec2.amazonaws.com"),
        rec("2024-03-01T18:05:00Z", "DescribeTags", "ec2.amazonaws.com", inst, ip="10.0.1.5"),
        rec("2024-03-01T18:30:00Z", "ListUsers", "iam.amazonaws.com", kate, ip=EVIL_IP),
        rec("2024-03-01T18:40:00Z", "ListBuckets", "s3.amazonaws.com", inst, ip=EVIL_IP),
        rec("2024-03-01T18:41:00Z", "GetCallerIdentity", "sts.amazonaws.com",
            role_session("WebRole", A, "i-0fff0000aaaa11112", "ASIAINSTANCEOBSERVED", "2024-03-01T17:55:00Z",
                         ec2RoleDelivery="1.0"), ip="10.0.2.9"),
        rec("2024-03-01T18:42:00Z", "ListFunctions20150331", "lambda.amazonaws.com",
            role_session("FnRole", A, "thumbnailer", "ASIALAMBDAOBSERVED01", "2024-03-01T18:10:00Z",
                         inScopeOf={"issuerType": "AWS::Lambda::Function",
                                    "credentialsIssuedTo": f"arn:aws:lambda:us-east-1:{A}:function:thumbnailer"}),
            ip="3.5.140.2", ua="Boto3/1.34 exec-env/AWS_Lambda_python3.12"),
    ]  # fmt: skip

    # 11. a role session never issued in the case, and keyless events of a session nobody issued
    s["observed"] = [
        rec("2024-03-01T19:00:00Z", "ListBuckets", "s3.amazonaws.com",
            role_session("Mystery", A, "who", "ASIAMYSTERY000000001", "2024-03-01T18:50:00Z", sourceIdentity="lee")),
        rec("2024-03-01T19:01:00Z", "GetBucketAcl", "s3.amazonaws.com",
            role_session("Ghost", A, "boo", None, "2024-03-01T18:51:00Z")),
    ]  # fmt: skip
    return s


def all_records() -> list[dict[str, Any]]:
    return [r for recs in story_records().values() for r in recs]


def ingest_records(records: list[dict[str, Any]], folder: Path, name: str = "case") -> Path:
    """Write the records as one trail file and ingest them into ``folder/name``."""
    src = folder / f"{name}.json"
    src.write_text(json.dumps({"Records": records}))
    ifx.ingest([str(src)], folder / name, jobs=1)
    return folder / name
