"""Every built-in rule: a true-positive and a true-negative event (hand-built), in one tmp case.

Each rule gets its own user and IP so bursts, first-seen and cross-event rules of different
rules cannot feed each other. A true positive must appear in one of the rule's findings
(for aggregations: all its events in one finding); a true negative in none.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from iamforensics.detections import load_rules
from iamforensics.detections.engine import run_rule

from .detections_helpers import ACCOUNT, OTHER, make_case, rec, role_identity

IAM, EC2, S3, STS, SIGNIN = (
    "iam.amazonaws.com",
    "ec2.amazonaws.com",
    "s3.amazonaws.com",
    "sts.amazonaws.com",
    "signin.amazonaws.com",
)
CT, SSM, LAMBDA, SM = (
    "cloudtrail.amazonaws.com",
    "ssm.amazonaws.com",
    "lambda.amazonaws.com",
    "secretsmanager.amazonaws.com",
)
ADMIN_DOC = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, indent=2
)
READ_DOC = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}],
    }
)


def trust(principal: Any) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        },
        indent=2,
    )


def _ip(rule: str) -> str:
    h = hashlib.sha256(rule.encode()).digest()
    return f"81.{h[0]}.{h[1]}.{1 + h[2] % 250}"


def specs() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """rule id -> {"tp": [...], "tn": [...], "aux": [...]} of records."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def rule(rid: str) -> Any:
        n = [0]

        def r(name: str, source: str, **kw: Any) -> dict[str, Any]:
            n[0] += 1
            kw.setdefault("user", f"u-{rid}")
            kw.setdefault("ip", _ip(rid))
            return rec(name, source, key=f"{rid}/{n[0]}", **kw)

        out[rid] = {"tp": [], "tn": [], "aux": []}
        return r, out[rid]

    login_ok = {"ConsoleLogin": "Success"}
    login_bad = {"ConsoleLogin": "Failure"}
    r, s = rule("console-login-without-mfa")
    s["tp"] = [r("ConsoleLogin", SIGNIN, resp=login_ok, aed={"MFAUsed": "No"}, eventType="AwsConsoleSignIn")]
    s["tn"] = [
        r("ConsoleLogin", SIGNIN, resp=login_ok, aed={"MFAUsed": "Yes"}, eventType="AwsConsoleSignIn"),
        r(
            "ConsoleLogin",
            SIGNIN,
            resp=login_ok,
            eventType="AwsConsoleSignIn",
            aed={"MFAUsed": "No", "SamlProviderArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"},
        ),
        r(
            "ConsoleLogin",
            SIGNIN,
            resp=login_ok,
            aed={"MFAUsed": "No"},
            eventType="AwsConsoleSignIn",
            identity=role_identity("AWSReservedSSO_Admin_0123456789abcdef", "jane@example.com"),
        ),
        r("ConsoleLogin", SIGNIN, resp=login_bad, aed={"MFAUsed": "No"}, eventType="AwsConsoleSignIn"),
    ]
    r, s = rule("console-login-failed-burst")
    s["tp"] = [
        r("ConsoleLogin", SIGNIN, resp=login_bad, minutes=i * 30, eventType="AwsConsoleSignIn")
        for i in range(3)
    ]
    s["tn"] = [
        r(
            "ConsoleLogin",
            SIGNIN,
            resp=login_bad,
            user="u-fail-twice",
            minutes=i,
            eventType="AwsConsoleSignIn",
        )
        for i in range(2)
    ]
    r, s = rule("root-console-login")
    s["tp"] = [
        r(
            "ConsoleLogin",
            SIGNIN,
            utype="Root",
            resp=login_ok,
            aed={"MFAUsed": "No"},
            eventType="AwsConsoleSignIn",
        )
    ]
    s["tn"] = [r("ConsoleLogin", SIGNIN, resp=login_ok, aed={"MFAUsed": "Yes"}, eventType="AwsConsoleSignIn")]
    r, s = rule("root-activity")
    s["tp"] = [r("ListUsers", IAM, utype="Root")]
    s["tn"] = [r("ListUsers", IAM), r("CheckMfa", SIGNIN, utype="Root", eventType="AwsServiceEvent")]

    r, s = rule("iam-create-user")
    s["tp"] = [r("CreateUser", IAM, rp={"userName": "tracy"})]
    s["tn"] = [r("GetUser", IAM, rp={"userName": "tracy"})]
    r, s = rule("iam-create-access-key-other-user")
    s["tp"] = [
        r("CreateAccessKey", IAM, rp={"userName": "bob"}, resp={"accessKey": {"accessKeyId": "AKIANEW1"}})
    ]
    s["tn"] = [
        r("CreateAccessKey", IAM, rp={"userName": "u-iam-create-access-key-other-user"}),
        r("CreateAccessKey", IAM, rp=None),
    ]
    r, s = rule("iam-create-access-key")
    s["tp"] = [r("CreateAccessKey", IAM, rp=None, resp={"accessKey": {"accessKeyId": "AKIANEW2"}})]
    s["tn"] = [r("CreateAccessKey", IAM, rp={"userName": "bob"}), r("CreateAccessKey", IAM, utype="Root")]
    r, s = rule("root-create-access-key")
    s["tp"] = [r("CreateAccessKey", IAM, utype="Root", resp={"accessKey": {"accessKeyId": "AKIAROOT"}})]
    s["tn"] = [r("CreateAccessKey", IAM, utype="Root", rp={"userName": "bob"}), r("CreateAccessKey", IAM)]
    r, s = rule("iam-create-login-profile")
    s["tp"] = [r("CreateLoginProfile", IAM, rp={"userName": "bob"})]
    s["tn"] = [r("GetLoginProfile", IAM, rp={"userName": "bob"})]
    r, s = rule("iam-update-login-profile")
    s["tp"] = [r("UpdateLoginProfile", IAM, rp={"userName": "bob"})]
    s["tn"] = [r("UpdateLoginProfile", IAM, rp={"userName": "u-iam-update-login-profile"})]
    r, s = rule("iam-create-role")
    s["tp"] = [
        r(
            "CreateRole",
            IAM,
            rp={"roleName": "x", "assumeRolePolicyDocument": trust({"Service": "ec2.amazonaws.com"})},
        )
    ]
    s["tn"] = [r("DeleteRole", IAM, rp={"roleName": "x"})]
    r, s = rule("iam-update-assume-role-policy")
    s["tp"] = [
        r(
            "UpdateAssumeRolePolicy",
            IAM,
            rp={"roleName": "x", "policyDocument": trust({"Service": "ec2.amazonaws.com"})},
        )
    ]
    s["tn"] = [r("GetRole", IAM, rp={"roleName": "x"})]
    r, s = rule("iam-role-trust-external")
    s["tp"] = [
        r(
            "CreateRole",
            IAM,
            rp={"roleName": "bd", "assumeRolePolicyDocument": trust({"AWS": f"arn:aws:iam::{OTHER}:root"})},
        ),
        r("UpdateAssumeRolePolicy", IAM, rp={"roleName": "bd2", "policyDocument": trust({"AWS": "*"})}),
    ]
    s["tn"] = [
        r(
            "CreateRole",
            IAM,
            rp={"roleName": "ok", "assumeRolePolicyDocument": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})},
        ),
        r(
            "UpdateAssumeRolePolicy",
            IAM,
            rp={"roleName": "ok2", "policyDocument": trust({"Service": "lambda.amazonaws.com"})},
        ),
    ]
    r, s = rule("ec2-import-key-pair")
    s["tp"] = [r("ImportKeyPair", EC2, rp={"keyName": "k"})]
    s["tn"] = [r("DescribeKeyPairs", EC2)]
    r, s = rule("lambda-add-permission-external")
    s["tp"] = [
        r(
            "AddPermission20150331v2",
            LAMBDA,
            rp={"principal": "*", "action": "lambda:InvokeFunction", "functionName": "f"},
        ),
        r(
            "AddPermission20150331v2",
            LAMBDA,
            rp={"principal": OTHER, "action": "lambda:InvokeFunction", "functionName": "f"},
        ),
    ]
    s["tn"] = [
        r("AddPermission20150331v2", LAMBDA, rp={"principal": "s3.amazonaws.com", "functionName": "f"})
    ]
    r, s = rule("lambda-layer-added")
    s["tp"] = [
        r(
            "UpdateFunctionConfiguration20150331v2",
            LAMBDA,
            rp={"functionName": "f", "layers": ["arn:aws:lambda:us-east-1:1:layer:x:1"]},
        )
    ]
    s["tn"] = [
        r("UpdateFunctionConfiguration20150331v2", LAMBDA, rp={"functionName": "f", "timeout": 30}),
        r("UpdateFunctionConfiguration20150331v2", LAMBDA, rp={"functionName": "f", "layers": []}),
    ]
    r, s = rule("lambda-update-code")
    s["tp"] = [r("UpdateFunctionCode20150331v2", LAMBDA, rp={"functionName": "f"})]
    s["tn"] = [r("GetFunction20150331v2", LAMBDA, rp={"functionName": "f"})]
    r, s = rule("rolesanywhere-trust-anchor")
    s["tp"] = [r("CreateTrustAnchor", "rolesanywhere.amazonaws.com", rp={"name": "ta"})]
    s["tn"] = [r("ListTrustAnchors", "rolesanywhere.amazonaws.com")]
    r, s = rule("sts-get-federation-token")
    s["tp"] = [r("GetFederationToken", STS, rp={"name": "x"})]
    s["tn"] = [r("GetSessionToken", STS)]

    r, s = rule("iam-attach-admin-policy")
    s["tp"] = [
        r(
            "AttachUserPolicy",
            IAM,
            rp={"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        r(
            "AttachRolePolicy",
            IAM,
            rp={"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
        ),
    ]
    s["tn"] = [
        r(
            "AttachUserPolicy",
            IAM,
            rp={"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AmazonEC2FullAccess"},
        )
    ]
    r, s = rule("iam-inline-admin-policy")
    s["tp"] = [
        r("PutUserPolicy", IAM, rp={"userName": "bob", "policyName": "p", "policyDocument": ADMIN_DOC}),
        r(
            "CreatePolicyVersion",
            IAM,
            rp={
                "policyArn": "arn:aws:iam::1:policy/p",
                "setAsDefault": True,
                "policyDocument": ADMIN_DOC.replace('"*",\n', '"iam:*",\n', 1),
            },
        ),
    ]
    s["tn"] = [r("PutRolePolicy", IAM, rp={"roleName": "r", "policyName": "p", "policyDocument": READ_DOC})]
    r, s = rule("iam-self-attach-billing")
    billing = "arn:aws:iam::aws:policy/job-function/Billing"
    s["tp"] = [r("AttachUserPolicy", IAM, rp={"userName": "u-iam-self-attach-billing", "policyArn": billing})]
    s["tn"] = [r("AttachUserPolicy", IAM, rp={"userName": "finance-bob", "policyArn": billing})]
    r, s = rule("iam-policy-to-self")
    s["tp"] = [
        r(
            "AttachUserPolicy",
            IAM,
            rp={"userName": "u-iam-policy-to-self", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        )
    ]
    s["tn"] = [
        r(
            "AttachUserPolicy",
            IAM,
            rp={"userName": "other", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        )
    ]
    r, s = rule("iam-add-user-to-admin-group")
    s["tp"] = [r("AddUserToGroup", IAM, rp={"userName": "bob", "groupName": "Admins"})]
    s["tn"] = [r("AddUserToGroup", IAM, rp={"userName": "bob", "groupName": "developers"})]
    r, s = rule("ec2-modify-user-data")
    s["tp"] = [
        r("ModifyInstanceAttribute", EC2, rp={"instanceId": "i-1", "userData": "<sensitiveDataRemoved>"})
    ]
    s["tn"] = [
        r("ModifyInstanceAttribute", EC2, rp={"instanceId": "i-1", "instanceType": {"value": "t3.large"}})
    ]

    r, s = rule("cloudtrail-stop-logging")
    s["tp"] = [r("StopLogging", CT, rp={"name": "t"}, error="AccessDenied")]
    s["tn"] = [r("StartLogging", CT, rp={"name": "t"})]
    r, s = rule("cloudtrail-delete-trail")
    s["tp"] = [r("DeleteTrail", CT, rp={"name": "t"})]
    s["tn"] = [r("DescribeTrails", CT)]
    r, s = rule("cloudtrail-update-trail")
    s["tp"] = [r("UpdateTrail", CT, rp={"name": "t"})]
    s["tn"] = [r("GetTrailStatus", CT, rp={"name": "t"})]
    r, s = rule("cloudtrail-event-selectors")
    s["tp"] = [r("PutEventSelectors", CT, rp={"trailName": "t"})]
    s["tn"] = [r("GetEventSelectors", CT, rp={"trailName": "t"})]
    r, s = rule("cloudtrail-bucket-tampering")
    s["aux"] = [r("CreateTrail", CT, rp={"name": "t", "s3BucketName": "org-audit-logs-7"})]
    s["tp"] = [
        r("PutBucketLifecycle", S3, rp={"bucketName": "org-audit-logs-7"}),
        r("DeleteBucketPolicy", S3, rp={"bucketName": "acme-cloudtrail-archive"}),
    ]
    s["tn"] = [r("PutBucketPolicy", S3, rp={"bucketName": "website-assets"})]
    r, s = rule("ec2-delete-flow-logs")
    s["tp"] = [r("DeleteFlowLogs", EC2, rp={"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-1"}}})]
    s["tn"] = [r("CreateFlowLogs", EC2)]
    r, s = rule("dns-query-logging-deleted")
    s["tp"] = [
        r(
            "DeleteResolverQueryLogConfig",
            "route53resolver.amazonaws.com",
            rp={"resolverQueryLogConfigId": "q"},
        )
    ]
    s["tn"] = [r("CreateResolverQueryLogConfig", "route53resolver.amazonaws.com")]
    r, s = rule("guardduty-disabled")
    s["tp"] = [
        r("DeleteDetector", "guardduty.amazonaws.com", rp={"detectorId": "d"}),
        r("UpdateDetector", "guardduty.amazonaws.com", rp={"detectorId": "d", "enable": False}),
    ]
    s["tn"] = [r("UpdateDetector", "guardduty.amazonaws.com", rp={"detectorId": "d", "enable": True})]
    r, s = rule("config-recorder-stopped")
    s["tp"] = [
        r("StopConfigurationRecorder", "config.amazonaws.com", rp={"configurationRecorderName": "default"})
    ]
    s["tn"] = [r("StartConfigurationRecorder", "config.amazonaws.com")]
    r, s = rule("organizations-leave")
    s["tp"] = [r("LeaveOrganization", "organizations.amazonaws.com", error="AccessDenied")]
    s["tn"] = [r("DescribeOrganization", "organizations.amazonaws.com")]
    r, s = rule("iam-deactivate-mfa")
    s["tp"] = [
        r("DeactivateMFADevice", IAM, rp={"userName": "bob", "serialNumber": "arn:aws:iam::1:mfa/bob"})
    ]
    s["tn"] = [r("EnableMFADevice", IAM, rp={"userName": "bob"})]

    r, s = rule("s3-object-read-burst")
    s["tp"] = [
        r("GetObject", S3, rp={"bucketName": "payroll", "key": f"2024/{i}.csv"}, minutes=i / 3)
        for i in range(25)
    ]
    s["tn"] = [
        # the same volume spread over a working day (a batch job), and 24 in a burst: under the count
        *(r("GetObject", S3, rp={"bucketName": "assets", "key": f"{i}.png"}, user="u-batch", minutes=i * 20) for i in range(25)),
        *(r("GetObject", S3, rp={"bucketName": "assets", "key": f"{i}.js"}, user="u-24", minutes=i / 3) for i in range(24)),
        # an AWS service acting on its own (replication, log delivery) is not an identity to chase
        *(r("GetObject", S3, rp={"bucketName": "src", "key": f"{i}"}, minutes=i / 3,
            identity={"type": "AWSService", "invokedBy": "s3.amazonaws.com"}) for i in range(25)),
    ]  # fmt: skip
    r, s = rule("secrets-get-value-burst")
    s["tp"] = [r("GetSecretValue", SM, rp={"secretId": f"s{i}"}, minutes=i) for i in range(5)]
    s["tn"] = [
        r("GetSecretValue", SM, rp={"secretId": "app"}, user="u-app", minutes=i * 20) for i in range(5)
    ]
    r, s = rule("secrets-batch-retrieve")
    s["tp"] = [r("BatchGetSecretValue", SM, rp={"filters": [{"key": "tag-key", "values": ["x"]}]})]
    s["tn"] = [r("ListSecrets", SM)]
    r, s = rule("ec2-get-password-data")
    s["tp"] = [r("GetPasswordData", EC2, rp={"instanceId": "i-1"}, error="Client.UnauthorizedOperation")]
    s["tn"] = [r("GetConsoleOutput", EC2, rp={"instanceId": "i-1"})]
    r, s = rule("ssm-get-parameters-decrypted")
    s["tp"] = [r("GetParameters", SSM, rp={"names": ["/db/pass"], "withDecryption": True})]
    s["tn"] = [
        r("GetParameters", SSM, rp={"names": ["/db/host"], "withDecryption": False}, user="u-ssm-plain")
    ]
    r, s = rule("ec2-instance-credentials-external")
    inst = role_identity("web-instance-role", "i-0123456789abcdef0", ec2RoleDelivery="2.0")
    s["aux"] = [r("ListBuckets", S3)]  # the user works from this rule's IP
    s["tp"] = [r("GetCallerIdentity", STS, identity=inst)]
    s["tn"] = [r("DescribeInstances", EC2, identity=inst, ip="52.94.10.20")]

    r, s = rule("sts-get-caller-identity-new-ip")
    s["aux"] = [
        r("ListBuckets", S3, ip="81.9.9.1", minutes=-60),
        r("ListBuckets", S3, user="u-gci-same", ip="81.9.9.2", minutes=-60),
    ]
    s["tp"] = [r("GetCallerIdentity", STS, ip="81.9.9.3")]
    s["tn"] = [
        r("GetCallerIdentity", STS, user="u-gci-same", ip="81.9.9.2"),
        r("GetCallerIdentity", STS, user="u-gci-first", ip="81.9.9.4"),
    ]
    r, s = rule("access-denied-burst")
    s["tp"] = [r("ListRoles", IAM, error="AccessDenied", minutes=i * 0.5) for i in range(10)]
    s["tn"] = [
        r("ListRoles", IAM, error="AccessDenied", user="u-denied-slow", minutes=i * 30) for i in range(10)
    ]
    r, s = rule("enumeration-burst")
    s["tp"] = [
        r(n, IAM, minutes=i * 0.2)
        for i, n in enumerate(
            [
                "ListUsers",
                "ListRoles",
                "ListPolicies",
                "ListGroups",
                "ListUsers",
                "ListRoles",
                "ListAccessKeys",
                "ListAttachedUserPolicies",
                "GetAccountAuthorizationDetails",
                "ListInstanceProfiles",
            ]
        )
    ]
    s["tn"] = [r("ListUsers", IAM, user="u-enum-few", minutes=i) for i in range(3)]
    r, s = rule("ec2-describe-user-data")
    s["tp"] = [r("DescribeInstanceAttribute", EC2, rp={"attribute": "userData", "instanceId": "i-1"})]
    s["tn"] = [
        r(
            "DescribeInstanceAttribute",
            EC2,
            rp={"attribute": "instanceType", "instanceId": "i-1"},
            user="u-dia",
        )
    ]

    r, s = rule("ssm-send-command")
    s["tp"] = [r("SendCommand", SSM, rp={"documentName": "AWS-RunShellScript", "instanceIds": ["i-1"]})]
    s["tn"] = [r("ListCommands", SSM)]
    r, s = rule("ssm-start-session")
    s["tp"] = [r("StartSession", SSM, rp={"target": "i-1"})]
    s["tn"] = [r("TerminateSession", SSM, rp={"sessionId": "x"})]
    r, s = rule("ec2-instance-connect-ssh-key")
    s["tp"] = [
        r(
            "SendSSHPublicKey",
            "ec2-instance-connect.amazonaws.com",
            rp={"instanceId": "i-1", "instanceOSUser": "ec2-user"},
        )
    ]
    s["tn"] = [r("OpenTunnel", "ec2-instance-connect.amazonaws.com")]
    r, s = rule("ec2-serial-console-ssh-key")
    s["tp"] = [
        r("SendSerialConsoleSSHPublicKey", "ec2-instance-connect.amazonaws.com", rp={"instanceId": "i-1"})
    ]
    s["tn"] = [r("GetSerialConsoleAccessStatus", EC2)]
    r, s = rule("sts-assume-role-cross-account")
    s["tp"] = [
        r("AssumeRole", STS, rp={"roleArn": f"arn:aws:iam::{OTHER}:role/deploy", "roleSessionName": "s"})
    ]
    s["tn"] = [
        r("AssumeRole", STS, rp={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/deploy", "roleSessionName": "s"})
    ]
    r, s = rule("ec2-run-unusual-instance-type")
    s["tp"] = [r("RunInstances", EC2, rp={"instanceType": "p4d.24xlarge"})]
    s["tn"] = [r("RunInstances", EC2, rp={"instanceType": "t3.micro"})]

    r, s = rule("ec2-snapshot-shared")
    s["tp"] = [
        r(
            "ModifySnapshotAttribute",
            EC2,
            rp={"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": OTHER}]}}},
        )
    ]
    s["tn"] = [
        r(
            "ModifySnapshotAttribute",
            EC2,
            rp={"snapshotId": "snap-1", "createVolumePermission": {"remove": {"items": [{"userId": OTHER}]}}},
        )
    ]
    r, s = rule("ec2-ami-shared")
    s["tp"] = [
        r(
            "ModifyImageAttribute",
            EC2,
            rp={"imageId": "ami-1", "launchPermission": {"add": {"items": [{"group": "all"}]}}},
        )
    ]
    s["tn"] = [r("ModifyImageAttribute", EC2, rp={"imageId": "ami-1", "description": {"value": "x"}})]
    r, s = rule("rds-snapshot-shared")
    s["tp"] = [
        r(
            "ModifyDBSnapshotAttribute",
            "rds.amazonaws.com",
            rp={"attributeName": "restore", "dBSnapshotIdentifier": "db", "valuesToAdd": [OTHER]},
        )
    ]
    s["tn"] = [
        r(
            "ModifyDBSnapshotAttribute",
            "rds.amazonaws.com",
            rp={"attributeName": "restore", "dBSnapshotIdentifier": "db", "valuesToRemove": [OTHER]},
        )
    ]
    r, s = rule("s3-bucket-policy-public")
    pol = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            }
        ],
    }
    s["tp"] = [r("PutBucketPolicy", S3, rp={"bucketName": "b", "bucketPolicy": pol})]
    pol_ok = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "s3:*",
                "Resource": "*",
            }
        ],
    }
    s["tn"] = [r("PutBucketPolicy", S3, rp={"bucketName": "b", "bucketPolicy": pol_ok})]
    r, s = rule("s3-bucket-acl-public")
    s["tp"] = [
        r("PutBucketAcl", S3, rp={"bucketName": "b", "x-amz-acl": ["public-read"]}),
        r(
            "PutBucketAcl",
            S3,
            rp={
                "bucketName": "b",
                "AccessControlPolicy": {
                    "AccessControlList": {
                        "Grant": [
                            {
                                "Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                                "Permission": "READ",
                            }
                        ]
                    }
                },
            },
        ),
    ]
    s["tn"] = [r("PutBucketAcl", S3, rp={"bucketName": "b", "x-amz-acl": ["private"]})]
    r, s = rule("s3-public-access-block-removed")
    s["tp"] = [r("DeleteBucketPublicAccessBlock", S3, rp={"bucketName": "b"})]
    s["tn"] = [r("PutBucketPublicAccessBlock", S3, rp={"bucketName": "b"})]
    r, s = rule("ec2-security-group-open-world")
    s["tp"] = [
        r(
            "AuthorizeSecurityGroupIngress",
            EC2,
            rp={
                "groupId": "sg-1",
                "ipPermissions": {
                    "items": [
                        {
                            "fromPort": 22,
                            "toPort": 22,
                            "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]},
                        }
                    ]
                },
            },
        )
    ]
    s["tn"] = [
        r(
            "AuthorizeSecurityGroupIngress",
            EC2,
            rp={
                "groupId": "sg-1",
                "ipPermissions": {
                    "items": [
                        {"fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}
                    ]
                },
            },
        )
    ]

    r, s = rule("s3-delete-bucket")
    s["tp"] = [r("DeleteBucket", S3, rp={"bucketName": "b"})]
    s["tn"] = [r("CreateBucket", S3, rp={"bucketName": "b"})]
    r, s = rule("s3-versioning-suspended")
    s["tp"] = [
        r(
            "PutBucketVersioning",
            S3,
            rp={"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}},
        )
    ]
    s["tn"] = [
        r("PutBucketVersioning", S3, rp={"bucketName": "b", "VersioningConfiguration": {"Status": "Enabled"}})
    ]
    r, s = rule("s3-lifecycle-expiration")
    s["tp"] = [
        r(
            "PutBucketLifecycle",
            S3,
            rp={"bucketName": "b", "LifecycleConfiguration": {"Rule": [{"Expiration": {"Days": 1}}]}},
        )
    ]
    s["tn"] = [
        r(
            "PutBucketLifecycle",
            S3,
            rp={"bucketName": "b", "LifecycleConfiguration": {"Rule": [{"Transition": {"Days": 30}}]}},
        )
    ]
    r, s = rule("s3-delete-object-burst")
    s["tp"] = [
        r("DeleteObject", S3, rp={"bucketName": "b", "key": f"k{i}"}, minutes=i * 0.1) for i in range(20)
    ]
    s["tn"] = [
        r("DeleteObject", S3, rp={"bucketName": "b", "key": f"k{i}"}, user="u-del-few", minutes=i)
        for i in range(5)
    ]
    r, s = rule("bedrock-model-access-enabled")
    s["tp"] = [r("PutFoundationModelEntitlement", "bedrock.amazonaws.com", rp={"modelId": "m"})]
    s["tn"] = [r("ListFoundationModels", "bedrock.amazonaws.com")]
    return out


SPECS = specs()


@pytest.fixture(scope="module")
def rules_case(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    records = [r for s in SPECS.values() for part in ("aux", "tp", "tn") for r in s[part]]
    return make_case(tmp_path_factory.mktemp("rules"), records)


def test_every_builtin_rule_has_a_true_positive_and_a_true_negative() -> None:
    ids = {r.id for r in load_rules()}
    assert ids == set(SPECS), (ids - set(SPECS), set(SPECS) - ids)
    for rid, s in SPECS.items():
        assert s["tp"] and s["tn"], rid


RULES = {r.id: r for r in load_rules()}


@pytest.mark.parametrize("rule_id", sorted(SPECS))
def test_rule_true_positive_and_negative(rules_case, rule_id: str) -> None:  # type: ignore[no-untyped-def]
    rule = RULES[rule_id]
    df = run_rule(rules_case, rule)
    found = [set(ids) for ids in df["event_ids"]]
    tp_ids = {e["eventID"] for e in SPECS[rule_id]["tp"]}
    tn_ids = {e["eventID"] for e in SPECS[rule_id]["tn"]}
    if rule.aggregate is not None and rule.aggregate.type == "threshold" and len(tp_ids) > 1:
        assert any(tp_ids <= f for f in found), (
            f"{rule_id}: burst not in one finding: {df[['count', 'summary']]}"
        )
    else:
        for e in tp_ids:
            assert any(e in f for f in found), f"{rule_id}: true positive {e} not found"
    for e in tn_ids:
        assert not any(e in f for f in found), f"{rule_id}: true negative {e} raised {df['summary'].tolist()}"
    assert (df["severity"] == rule.severity).all() and (df["source"] == "builtin").all()
    assert df["summary"].map(lambda s: "\n" not in s and len(s) <= 300).all()
