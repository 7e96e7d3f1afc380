"""Deterministic synthetic CloudTrail corpus in the S3 delivery layout, for the ingest benchmark.

``AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<stamp>_<rand>.json.gz``,
each file one compact ``{"Records":[...]}`` object of 50-2000 records (log-uniform, like the
5-minute delivery files of a busy trail), about 100k records per day so one date partition
stays bounded whatever the corpus size. Records are 1-2 KB and of many shapes: S3 and
DynamoDB data events, EC2 describe/run calls with ``items`` lists, STS AssumeRole responses
carrying credentials and a sessionToken, console sign-ins (success, failure, MFA yes/no),
KMS calls made by services, IAM reads, Root activity and access-denied errors, with IAMUser,
AssumedRole, AWSService and Root identities. Some records near midnight belong to the
previous day (delivery lag), as in real evidence.

The same ``(records, seed)`` always gives byte-identical files: each day draws from its own
``random.Random(f"{seed}:{day}")`` and gzip members carry no timestamp or name.

Examples
--------
>>> stats = generate("bench/corpus/1000-s1", records=1000, seed=1)  # doctest: +SKIP
>>> stats["records"]  # doctest: +SKIP
1000
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import shutil
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

RECORDS_PER_DAY = 100_000
MIN_FILE, MAX_FILE = 50, 2000
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
ACCOUNTS = ("012345678901", "210987654321", "000123456789")
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
STATS = "corpus.json"
#: Bumped whenever the generator's output changes, so a cached corpus is rebuilt.
VERSION = 2

_USERS = ("alice", "bob", "carol", "deploy-bot", "ci-runner", "backup", "dave.ops", "eve")
_ROLES = (
    "AppServerRole",
    "LambdaExecRole",
    "OrganizationAccountAccessRole",
    "AWSReservedSSO_AdministratorAccess_5f3e1a2b3c4d5e6f",
    "DataPipelineRole",
    "ecsTaskRole",
    "GitHubActionsDeploy",
    "ReadOnlyAuditor",
)
_SERVICES = (
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "cloudformation.amazonaws.com",
    "autoscaling.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "config.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
)
_AGENTS = (
    "aws-cli/2.15.34 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off "
    "command/s3.cp",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.3",
    "aws-sdk-java/2.25.11 Linux/5.10.205 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 "
    "vendor/Amazon.com_Inc. io/async http/NettyNio cfg/retry-mode/legacy",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 "
    "Safari/537.36",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.217-182.855.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]",
)
_PUBLIC = ("203.0.113.", "198.51.100.", "192.0.2.", "54.240.197.", "3.5.140.", "81.2.69.", "89.160.20.")
_CIPHERS = ("TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384")
_BUCKETS = (
    "acme-prod-data",
    "acme-logs-archive",
    "acme-ml-datasets",
    "acme-static-assets",
    "finance-reports",
)
_IAM_READS = ("GetUser", "ListRoles", "ListUsers", "GetRole", "ListAttachedRolePolicies", "GetPolicyVersion")
_EC2_DESCRIBE = (
    "DescribeInstances",
    "DescribeSecurityGroups",
    "DescribeVolumes",
    "DescribeSubnets",
    "DescribeImages",
)
_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class _Gen:
    """Record factory for one day; every draw comes from its own seeded generator."""

    def __init__(self, rng: random.Random):
        self.r = rng
        self.ids: dict[str, Any] = {}
        prng = random.Random(0)  # identities are the same every day: stable principals
        for acct in ACCOUNTS:
            self.ids[acct] = {
                "users": [(u, "AIDA" + self._tok(prng, 17), "AKIA" + self._tok(prng, 16)) for u in _USERS],
                "roles": [(r, "AROA" + self._tok(prng, 17)) for r in _ROLES],
            }

    @staticmethod
    def _tok(rng: random.Random, n: int) -> str:
        return "".join(rng.choice(_ALPHA) for _ in range(n))

    def uuid(self) -> str:
        h = f"{self.r.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def ip(self) -> str:
        x = self.r.random()
        if x < 0.75:
            return self.r.choice(_PUBLIC) + str(self.r.randrange(1, 255))
        if x < 0.9:
            return f"10.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        if x < 0.97:
            return self.r.choice(_SERVICES)
        return "AWS Internal"

    # --- identities -------------------------------------------------------------------

    def iam_user(self, acct: str) -> dict[str, Any]:
        name, pid, key = self.r.choice(self.ids[acct]["users"])
        return {
            "type": "IAMUser",
            "principalId": pid,
            "arn": f"arn:aws:iam::{acct}:user/{name}",
            "accountId": acct,
            "accessKeyId": key,
            "userName": name,
        }

    def assumed_role(self, acct: str, t: dt.datetime) -> dict[str, Any]:
        role, rid = self.r.choice(self.ids[acct]["roles"])
        x = self.r.random()
        if x < 0.4:
            session = f"i-0{self.r.getrandbits(64):016x}"
        elif x < 0.7:
            session = f"botocore-session-{1710000000 + self.r.randrange(10**7)}"
        else:
            session = self.r.choice(_USERS) + "@example.com"
        created = (t - dt.timedelta(seconds=self.r.randrange(60, 43200))).strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx: dict[str, Any] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": rid,
                "arn": f"arn:aws:iam::{acct}:role/{role}",
                "accountId": acct,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": self.r.choice(("false", "true"))},
        }
        if session.startswith("i-"):
            ctx["ec2RoleDelivery"] = "2.0"
        return {
            "type": "AssumedRole",
            "principalId": f"{rid}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            "accountId": acct,
            "accessKeyId": "ASIA" + self._tok(self.r, 16),
            "sessionContext": ctx,
        }

    def service(self, svc: str | None = None) -> dict[str, Any]:
        svc = svc or self.r.choice(_SERVICES)
        return {"type": "AWSService", "invokedBy": svc}

    def root(self, acct: str) -> dict[str, Any]:
        return {"type": "Root", "principalId": acct, "arn": f"arn:aws:iam::{acct}:root", "accountId": acct}

    def caller(self, acct: str, t: dt.datetime) -> dict[str, Any]:
        x = self.r.random()
        if x < 0.62:
            return self.assumed_role(acct, t)
        if x < 0.9:
            return self.iam_user(acct)
        if x < 0.99:
            return self.service()
        return self.root(acct)

    # --- records ----------------------------------------------------------------------

    def base(self, acct: str, region: str, t: dt.datetime, ui: dict[str, Any], src: str, name: str) -> dict:
        r = self.r
        svc = ui.get("invokedBy")
        return {
            "eventVersion": r.choice(("1.08", "1.09", "1.10")),
            "userIdentity": ui,
            "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": src,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": svc if svc else self.ip(),
            "userAgent": svc if svc else r.choice(_AGENTS),
            "requestParameters": None,
            "responseElements": None,
            "requestID": self.uuid(),
            "eventID": self.uuid(),
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": acct,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3" if r.random() < 0.7 else "TLSv1.2",
                "cipherSuite": r.choice(_CIPHERS),
                "clientProvidedHostHeader": f"{src.split('.')[0]}.{region}.amazonaws.com",
            },
        }

    def s3_data(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        name = r.choice(("GetObject", "GetObject", "PutObject", "HeadObject", "ListObjects"))
        ui = self.assumed_role(acct, t) if r.random() < 0.8 else self.iam_user(acct)
        rec = self.base(acct, region, t, ui, "s3.amazonaws.com", name)
        bucket = r.choice(_BUCKETS)
        key = f"{r.choice(('raw', 'curated', 'exports', 'tmp'))}/{t:%Y/%m/%d}/part-{r.getrandbits(40):010x}.parquet"
        host = f"{bucket}.s3.{region}.amazonaws.com"
        if name == "ListObjects":
            rec["requestParameters"] = {
                "list-type": "2",
                "bucketName": bucket,
                "Host": host,
                "prefix": key[:8],
            }
            res = [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}", "accountId": acct}]
        else:
            rec["requestParameters"] = {"bucketName": bucket, "Host": host, "key": key}
            res = [
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
            ]
        size = r.randrange(100, 50_000_000)
        rec["additionalEventData"] = {
            "SignatureVersion": "SigV4",
            "CipherSuite": r.choice(_CIPHERS),
            "bytesTransferredIn": size if name == "PutObject" else 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": "".join(r.choice(_B64) for _ in range(76)),
            "bytesTransferredOut": size if name == "GetObject" else 0,
        }
        if name == "PutObject":
            rec["responseElements"] = {
                "x-amz-server-side-encryption": "AES256",
                "x-amz-version-id": self.uuid(),
            }
        rec["readOnly"] = name != "PutObject"
        rec["resources"] = res
        rec["managementEvent"] = False
        rec["eventCategory"] = "Data"
        return rec

    def dynamodb_data(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        name = r.choice(("GetItem", "PutItem", "Query"))
        rec = self.base(acct, region, t, self.assumed_role(acct, t), "dynamodb.amazonaws.com", name)
        table = r.choice(("orders", "sessions", "users", "audit"))
        # requestParameters.key is an object here but a string for S3: the shape that breaks
        # readers inferring one schema for the whole column.
        rec["requestParameters"] = {
            "tableName": table,
            "key": {"pk": f"CUSTOMER#{r.randrange(10**6)}", "sk": f"ORDER#{self.uuid()}"},
            "consistentRead": r.random() < 0.5,
        }
        rec["resources"] = [
            {
                "accountId": acct,
                "type": "AWS::DynamoDB::Table",
                "ARN": f"arn:aws:dynamodb:{region}:{acct}:table/{table}",
            }
        ]
        rec["readOnly"] = name != "PutItem"
        rec["managementEvent"] = False
        rec["eventCategory"] = "Data"
        return rec

    def ec2(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        if r.random() < 0.85:
            name = r.choice(_EC2_DESCRIBE)
            rec = self.base(acct, region, t, self.caller(acct, t), "ec2.amazonaws.com", name)
            rec["requestParameters"] = {
                "instancesSet": {
                    "items": [
                        {"instanceId": f"i-0{r.getrandbits(64):016x}"} for _ in range(r.randrange(0, 4))
                    ]
                },
                "filterSet": {
                    "items": [
                        {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}},
                        {
                            "name": "tag:Environment",
                            "valueSet": {"items": [{"value": r.choice(("prod", "dev"))}]},
                        },
                    ][: r.randrange(0, 3)]
                },
            }
            return rec
        rec = self.base(acct, region, t, self.caller(acct, t), "ec2.amazonaws.com", "RunInstances")
        iid = f"i-0{r.getrandbits(64):016x}"
        ami = f"ami-0{r.getrandbits(64):016x}"
        rec["readOnly"] = False
        rec["requestParameters"] = {
            "instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]},
            "instanceType": r.choice(("t3.micro", "m5.large", "c6i.xlarge")),
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
            "disableApiStop": False,
            "clientToken": self.uuid(),
        }
        rec["responseElements"] = {
            "requestId": self.uuid(),
            "reservationId": f"r-0{r.getrandbits(64):016x}",
            "ownerId": acct,
            "groupSet": {},
            "instancesSet": {
                "items": [
                    {
                        "instanceId": iid,
                        "imageId": ami,
                        "currentInstanceBootMode": "legacy-bios",
                        "instanceState": {"code": 0, "name": "pending"},
                        "privateDnsName": f"ip-10-0-{r.randrange(256)}-{r.randrange(256)}.ec2.internal",
                        "amiLaunchIndex": 0,
                        "productCodes": {},
                        "instanceType": "t3.micro",
                        "launchTime": int(t.timestamp() * 1000),
                        "placement": {"availabilityZone": f"{region}a", "tenancy": "default"},
                        "monitoring": {"state": "disabled"},
                        "subnetId": f"subnet-0{r.getrandbits(64):016x}",
                        "vpcId": f"vpc-0{r.getrandbits(64):016x}",
                        "privateIpAddress": f"10.0.{r.randrange(256)}.{r.randrange(256)}",
                        "stateReason": {"code": "pending", "message": "pending"},
                        "architecture": "x86_64",
                        "rootDeviceType": "ebs",
                        "rootDeviceName": "/dev/xvda",
                        "blockDeviceMapping": {},
                        "virtualizationType": "hvm",
                        "hypervisor": "xen",
                        "groupSet": {
                            "items": [{"groupId": f"sg-0{r.getrandbits(64):016x}", "groupName": "default"}]
                        },
                        "sourceDestCheck": True,
                        "networkInterfaceSet": {"items": []},
                        "ebsOptimized": False,
                        "enaSupport": True,
                        "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                        "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                        "enclaveOptions": {"enabled": False},
                        "metadataOptions": {
                            "state": "pending",
                            "httpTokens": r.choice(("required", "optional")),
                            "httpPutResponseHopLimit": 2,
                            "httpEndpoint": "enabled",
                        },
                        "maintenanceOptions": {"autoRecovery": "default"},
                    }
                ]
            },
        }
        return rec

    def sts_assume(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        role, rid = r.choice(self.ids[acct]["roles"])
        ui = self.service() if r.random() < 0.6 else self.caller(acct, t)
        rec = self.base(acct, region, t, ui, "sts.amazonaws.com", "AssumeRole")
        session = f"session-{r.getrandbits(48):012x}"
        rec["requestParameters"] = {
            "roleArn": f"arn:aws:iam::{acct}:role/{role}",
            "roleSessionName": session,
            "durationSeconds": r.choice((900, 3600, 43200)),
        }
        exp = t + dt.timedelta(hours=1)
        rec["responseElements"] = {
            "credentials": {
                "accessKeyId": "ASIA" + self._tok(r, 16),
                "sessionToken": "IQoJb3JpZ2luX2Vj" + "".join(r.choice(_B64) for _ in range(380)),
                "expiration": exp.strftime("%b %-d, %Y, %-I:%M:%S %p"),
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{rid}:{session}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            },
        }
        rec["resources"] = [
            {"accountId": acct, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{acct}:role/{role}"}
        ]
        rec["sharedEventID"] = self.uuid() if r.random() < 0.3 else None
        if rec["sharedEventID"] is None:
            del rec["sharedEventID"]
        return rec

    def console(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        ui = self.root(acct) if r.random() < 0.15 else self.iam_user(acct)
        ui.pop("accessKeyId", None)
        rec = self.base(acct, region, t, ui, "signin.amazonaws.com", "ConsoleLogin")
        rec["userAgent"] = _AGENTS[5]
        rec["sourceIPAddress"] = r.choice(_PUBLIC) + str(r.randrange(1, 255))
        ok = r.random() < 0.85
        rec["responseElements"] = {"ConsoleLogin": "Success" if ok else "Failure"}
        if not ok:
            rec["errorMessage"] = "Failed authentication"
        rec["additionalEventData"] = {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAUsed": r.choice(("Yes", "No")),
        }
        rec["readOnly"] = False
        rec["eventType"] = "AwsConsoleSignIn"
        rec["tlsDetails"]["clientProvidedHostHeader"] = "signin.aws.amazon.com"
        return rec

    def kms(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        name = r.choice(("Decrypt", "GenerateDataKey", "Encrypt"))
        ui = self.service() if r.random() < 0.7 else self.assumed_role(acct, t)
        rec = self.base(acct, region, t, ui, "kms.amazonaws.com", name)
        key = f"arn:aws:kms:{region}:{acct}:key/{self.uuid()}"
        rec["requestParameters"] = {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{r.choice(_BUCKETS)}/{self.uuid()}"},
            "keyId": key,
        }
        rec["resources"] = [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key}]
        return rec

    def iam(self, acct: str, region: str, t: dt.datetime) -> dict:
        r = self.r
        name = r.choice(_IAM_READS)
        ui = self.root(acct) if r.random() < 0.05 else self.caller(acct, t)
        rec = self.base(acct, "us-east-1", t, ui, "iam.amazonaws.com", name)
        if name in ("GetUser",):
            rec["requestParameters"] = {"userName": r.choice(_USERS)}
        elif name in ("GetRole", "ListAttachedRolePolicies"):
            rec["requestParameters"] = {"roleName": r.choice(_ROLES)}
        elif name == "GetPolicyVersion":
            rec["requestParameters"] = {
                "policyArn": f"arn:aws:iam::{acct}:policy/{r.choice(_ROLES)}-policy",
                "versionId": f"v{r.randrange(1, 9)}",
            }
        else:
            rec["requestParameters"] = {"maxItems": 100}
        return rec

    def record(self, acct: str, region: str, t: dt.datetime) -> dict:
        x = self.r.random()
        if x < 0.36:
            rec = self.s3_data(acct, region, t)
        elif x < 0.44:
            rec = self.dynamodb_data(acct, region, t)
        elif x < 0.62:
            rec = self.ec2(acct, region, t)
        elif x < 0.72:
            rec = self.sts_assume(acct, region, t)
        elif x < 0.74:
            return self.console(acct, region, t)
        elif x < 0.86:
            rec = self.kms(acct, region, t)
        else:
            rec = self.iam(acct, region, t)
        if self.r.random() < 0.08 and rec["userIdentity"].get("type") != "AWSService":
            arn = rec["userIdentity"].get("arn", "")
            action = rec["eventSource"].split(".")[0] + ":" + rec["eventName"]
            if self.r.random() < 0.5:
                rec["errorCode"] = "AccessDenied"
                rec["errorMessage"] = (
                    f"User: {arn} is not authorized to perform: {action} because no identity-based policy "
                    "allows the action"
                )
            else:
                rec["errorCode"] = "Client.UnauthorizedOperation"
                rec["errorMessage"] = (
                    f"You are not authorized to perform this operation. User: {arn} is not authorized to "
                    f"perform: {action}. Encoded authorization failure message: "
                    + "".join(self.r.choice(_B64) for _ in range(300))
                )
            rec["responseElements"] = None
        return rec


def _file_sizes(rng: random.Random, total: int) -> list[int]:
    sizes: list[int] = []
    left = total
    while left > 0:
        n = int(math.exp(rng.uniform(math.log(MIN_FILE), math.log(MAX_FILE))))
        if left - n < MIN_FILE:  # no runt file at the end of a day
            n = left if left <= MAX_FILE else left - MIN_FILE
        sizes.append(n)
        left -= n
    return sizes


def _gzip(data: bytes) -> bytes:
    # zlib's gzip wrapper writes mtime 0 and no name: the bytes depend on the data only.
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _write_day(root: str, seed: int, day: int, n: int) -> dict[str, int]:
    rng = random.Random(f"{seed}:{day}")
    gen = _Gen(rng)
    base = START + dt.timedelta(days=day)
    files = json_bytes = gz_bytes = 0
    sizes = _file_sizes(rng, n)
    # Files are spread over the day's 5-minute delivery windows, in time order.
    windows = sorted(rng.randrange(288) for _ in sizes)
    for n_rec, w in zip(sizes, windows, strict=True):
        acct = rng.choice(ACCOUNTS)
        region = rng.choice(REGIONS)
        end = base + dt.timedelta(minutes=5 * (w + 1))
        recs = []
        for _ in range(n_rec):
            # Delivery lag: events up to 15 minutes before the file's window end, so the
            # first files of a day carry some records of the previous day.
            t = end - dt.timedelta(seconds=rng.randrange(1, 900))
            recs.append(gen.record(acct, region, t))
        recs.sort(key=lambda rec: rec["eventTime"])
        body = orjson.dumps({"Records": recs})
        gz = _gzip(body)
        stamp = end.strftime("%Y%m%dT%H%MZ")
        folder = Path(root, "AWSLogs", acct, "CloudTrail", region, f"{base:%Y/%m/%d}")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{acct}_CloudTrail_{region}_{stamp}_{gen._tok(rng, 16)}.json.gz"
        (folder / name).write_bytes(gz)
        files += 1
        json_bytes += len(body)
        gz_bytes += len(gz)
    return {"files": files, "records": n, "json_bytes": json_bytes, "gzip_bytes": gz_bytes}


def generate(root: str | Path, records: int, seed: int = 1, jobs: int | None = None) -> dict[str, Any]:
    """Write the corpus under ``root`` (replacing a partial one) and return its statistics.

    A finished corpus has ``root/corpus.json``; calling again with the same arguments
    returns those statistics without writing anything.
    """
    root = Path(root)
    stats_file = root / STATS
    if stats_file.exists():
        stats = json.loads(stats_file.read_text())
        if (stats.get("records"), stats.get("seed"), stats.get("version")) == (records, seed, VERSION):
            return stats  # type: ignore[no-any-return]
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    days = [RECORDS_PER_DAY] * (records // RECORDS_PER_DAY)
    if records % RECORDS_PER_DAY:
        days.append(records % RECORDS_PER_DAY)
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(days) > 1:
        with ProcessPoolExecutor(min(jobs, len(days))) as ex:
            parts = list(
                ex.map(_write_day, [str(root)] * len(days), [seed] * len(days), range(len(days)), days)
            )
    else:
        parts = [_write_day(str(root), seed, d, n) for d, n in enumerate(days)]
    stats = {"records": records, "seed": seed, "version": VERSION, "days": len(days)}
    for k in ("files", "json_bytes", "gzip_bytes"):
        stats[k] = sum(p[k] for p in parts)
    stats_file.write_text(json.dumps(stats, indent=1))
    return stats


def files(root: str | Path) -> list[str]:
    """The corpus's .json.gz files, sorted."""
    return sorted(str(p) for p in Path(root, "AWSLogs").rglob("*.json.gz"))
