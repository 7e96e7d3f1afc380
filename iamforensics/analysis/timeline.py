"""Timeline questions: what happened, who was active, what changed, and when.

Every function takes a :class:`~iamforensics.case.Case` (aggregations run in DuckDB over the
Parquet case) or a pandas DataFrame of events (the same SQL runs on the frame), plus the
common filters: ``start``/``end`` (UTC, start inclusive, end exclusive), ``actor``,
``access_key_id``, ``source_ip`` (the raw ``sourceIPAddress``), ``event_names``,
``read_only`` (True reads, False writes) and ``errors_only``.

Reads and writes: ``readOnly`` when the record has it, else the event name's prefix
(``Get``, ``List``, ``Describe``, ... see :data:`~iamforensics.analysis._base.READ_PREFIXES`),
because older records and some exports lack the field. A failed call counts as an error.

Examples
--------
>>> from iamforensics import open_case
>>> case = open_case("out/case")  # doctest: +SKIP
>>> timeline(case, "2024-05-08", "2024-05-09", access_key_id="AKIA...")  # doctest: +SKIP
>>> actor_summary(case).head()  # doctest: +SKIP
>>> what_changed(case, actor="arn:aws:iam::111122223333:user/dave")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..case import TimeLike
from ..errors import QueryError
from ..schema import COLUMN_NAMES, TIMELINE_COLUMNS
from ._base import IS_READ, KIND, Events, and_where, interval, source, utc_columns

#: Events worth a vertical mark on an activity chart: logging and monitoring turned off,
#: new credentials and principals, MFA removed, the organization left.
DEFAULT_MARKS: tuple[str, ...] = (
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "DeleteFlowLogs",
    "DeleteDetector",
    "DisableSecurityHub",
    "DeleteConfigurationRecorder",
    "StopConfigurationRecorder",
    "CreateUser",
    "CreateAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "AttachUserPolicy",
    "AttachRolePolicy",
    "PutUserPolicy",
    "PutRolePolicy",
    "UpdateAssumeRolePolicy",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "LeaveOrganization",
)

#: requestParameters keys that name the resource a write acted on, most specific first, as
#: (key, resource type); used when the record has no ``resources`` list.
RESOURCE_KEYS: tuple[tuple[str, str], ...] = (
    ("userName", "AWS::IAM::User"),
    ("roleName", "AWS::IAM::Role"),
    ("groupName", "AWS::IAM::Group"),
    ("instanceProfileName", "AWS::IAM::InstanceProfile"),
    ("policyArn", "AWS::IAM::ManagedPolicy"),
    ("accessKeyId", "AWS::IAM::AccessKey"),
    ("serialNumber", "AWS::IAM::MFADevice"),
    ("virtualMFADeviceName", "AWS::IAM::MFADevice"),
    ("bucketName", "AWS::S3::Bucket"),
    ("trailName", "AWS::CloudTrail::Trail"),
    ("functionName", "AWS::Lambda::Function"),
    ("instanceId", "AWS::EC2::Instance"),
    ("snapshotId", "AWS::EC2::Snapshot"),
    ("imageId", "AWS::EC2::Image"),
    ("groupId", "AWS::EC2::SecurityGroup"),
    ("dBSnapshotIdentifier", "AWS::RDS::DBSnapshot"),
    ("dBInstanceIdentifier", "AWS::RDS::DBInstance"),
    ("secretId", "AWS::SecretsManager::Secret"),
    ("keyId", "AWS::KMS::Key"),
    ("detectorId", "AWS::GuardDuty::Detector"),
    ("resolverQueryLogConfigId", "AWS::Route53Resolver::ResolverQueryLogConfig"),
    ("trustAnchorId", "AWS::RolesAnywhere::TrustAnchor"),
    ("clusterName", "AWS::EKS::Cluster"),
    ("stackName", "AWS::CloudFormation::Stack"),
    ("tableName", "AWS::DynamoDB::Table"),
    ("topicArn", "AWS::SNS::Topic"),
    ("queueUrl", "AWS::SQS::Queue"),
)
#: Services whose ``name`` request parameter is the resource (trail, SSM parameter, ...).
NAME_KEY_SOURCES: dict[str, str] = {
    "cloudtrail.amazonaws.com": "AWS::CloudTrail::Trail",
    "ssm.amazonaws.com": "AWS::SSM::Parameter",
    "organizations.amazonaws.com": "AWS::Organizations::Resource",
}


def _filters(
    src: Any,
    start: TimeLike,
    end: TimeLike,
    actor: str | Sequence[str] | None,
    access_key_id: str | Sequence[str] | None,
    source_ip: str | Sequence[str] | None,
    event_names: str | Sequence[str] | None,
    read_only: bool | None,
    errors_only: bool,
) -> tuple[str, list[Any]]:
    return src.where(
        start,
        end,
        actor=actor,
        access_key_id=access_key_id,
        source_ip=source_ip,
        event_names=event_names,
        read_only=read_only,
        errors_only=errors_only,
    )


def timeline(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
    event_names: str | Sequence[str] | None = None,
    read_only: bool | None = None,
    errors_only: bool = False,
    columns: Sequence[str] = TIMELINE_COLUMNS,
    limit: int | None = None,
) -> pd.DataFrame:
    """Events in time order (ties by event id) with a ``kind`` column: read, write or error.

    Examples
    --------
    >>> timeline(case, actor="arn:aws:iam::111122223333:user/dave", errors_only=True)  # doctest: +SKIP
    """
    src = source(events)
    cols = list(dict.fromkeys([*columns, "event_time", "event_id"]))
    unknown = [c for c in cols if c not in COLUMN_NAMES]
    if unknown:
        raise QueryError(f"unknown column(s): {', '.join(unknown)}")
    where, params = _filters(
        src, start, end, actor, access_key_id, source_ip, event_names, read_only, errors_only
    )
    select = ", ".join(f'"{c}"' for c in cols)
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    df = src.sql(
        f"SELECT {select}, {KIND} AS kind FROM events{where} ORDER BY event_time, event_id{lim}", params
    )
    return utc_columns(df, "event_time")


def actor_summary(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per actor: first/last seen, events, errors, error rate, distinct APIs,
    services, regions, source IPs, user agents and access keys, most active first.

    Examples
    --------
    >>> actor_summary(case, "2024-05-08", "2024-05-09")  # doctest: +SKIP
    """
    src = source(events)
    where, params = _filters(src, start, end, actor, access_key_id, source_ip, None, None, False)
    df = src.sql(
        f"""
        SELECT coalesce(actor, '(unknown)') AS actor,
               any_value(user_type) AS user_type,
               min(event_time) AS first_seen, max(event_time) AS last_seen,
               count(*) AS events,
               count(*) FILTER (WHERE coalesce(is_error, FALSE)) AS errors,
               count(*) FILTER (WHERE NOT {IS_READ}) AS writes,
               count(DISTINCT event_name) AS apis,
               count(DISTINCT event_source) AS services,
               count(DISTINCT aws_region) AS regions,
               count(DISTINCT source_ip_address) AS source_ips,
               count(DISTINCT user_agent) AS user_agents,
               count(DISTINCT access_key_id) AS access_keys,
               count(DISTINCT recipient_account_id) AS accounts
        FROM events{where}
        GROUP BY 1 ORDER BY events DESC, actor
        """,
        params,
    )
    df["error_rate"] = (df["errors"] / df["events"]).where(df["events"] > 0, 0.0)
    return utc_columns(df, "first_seen", "last_seen")


def what_changed(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
    include_failed: bool = False,
) -> pd.DataFrame:
    """Write events grouped by the resource they acted on.

    The resource is each ARN of the record's ``resources`` list when it has one, else the
    first of :data:`RESOURCE_KEYS` found in ``requestParameters`` (``name`` for CloudTrail,
    SSM and Organizations), else the event itself (``resource_type`` "(not named)").
    Failed calls changed nothing and are left out unless ``include_failed``.

    Returns
    -------
    DataFrame: resource_type, resource, named_by (``resources`` or ``requestParameters.<key>``),
    events, failed, first_time, last_time, event_names, actors; most recent change first.

    Examples
    --------
    >>> what_changed(case, "2024-05-08", "2024-05-10")  # doctest: +SKIP
    """
    src = source(events)
    where, params = _filters(src, start, end, actor, access_key_id, source_ip, None, False, False)
    if not include_failed:
        where = and_where(where, "NOT coalesce(is_error, FALSE)")
    # One parse per record: every candidate key is extracted in a single json_extract_string
    # call (a list of paths), then the first one present wins. The paths and type names are
    # this module's constants (checked below), never record text.
    keys = [k for k, _ in RESOURCE_KEYS] + ["name"]
    assert all(re.fullmatch(r"[A-Za-z]+", k) for k in keys)
    paths = ", ".join(f"'$.{k}'" for k in keys)
    key_cases: list[str] = []
    key_params: list[Any] = []
    for i, (key, rtype) in enumerate(RESOURCE_KEYS, start=1):
        key_cases.append(f"WHEN v[{i}] IS NOT NULL THEN struct_pack(t := ?, v := v[{i}], k := ?)")
        key_params += [rtype, "requestParameters." + key]
    n = len(keys)
    for svc, rtype in NAME_KEY_SOURCES.items():
        key_cases.append(
            f"WHEN event_source = ? AND v[{n}] IS NOT NULL "
            f"THEN struct_pack(t := ?, v := v[{n}], k := 'requestParameters.name')"
        )
        key_params += [svc, rtype]
    # Only JSON text that parses is looked into: one odd payload must not fail the query.
    sql = f"""
    WITH w AS (
        SELECT event_time, event_name, actor, is_error, event_source,
               CASE WHEN json_valid(resources) AND json_type(resources) = 'ARRAY' THEN resources END AS res,
               CASE WHEN json_valid(request_parameters) THEN request_parameters END AS rp
        FROM events{where}
    ),
    by_res AS (
        SELECT event_time, event_name, actor, is_error,
               coalesce(json_extract_string(r.value, '$.type'), '(unknown type)') AS resource_type,
               coalesce(json_extract_string(r.value, '$.ARN'), json_extract_string(r.value, '$.arn'),
                        json_extract_string(r.value, '$.ARNPrefix')) AS resource,
               'resources' AS named_by
        FROM w, json_each(w.res) AS r
        WHERE w.res IS NOT NULL AND json_array_length(w.res) > 0
    ),
    by_param AS (
        SELECT event_time, event_name, actor, is_error, p.t AS resource_type, p.v AS resource,
               p.k AS named_by
        FROM (
            SELECT event_time, event_name, actor, is_error,
                   CASE {" ".join(key_cases)} ELSE struct_pack(t := '(not named)', v := event_name, k := 'eventName') END AS p
            FROM (SELECT *, CASE WHEN rp IS NOT NULL THEN json_extract_string(rp, [{paths}]) END AS v FROM w
                  WHERE res IS NULL OR json_array_length(res) = 0)
        )
    ),
    allr AS (SELECT * FROM by_res WHERE resource IS NOT NULL UNION ALL SELECT * FROM by_param)
    SELECT resource_type, resource, named_by,
           count(*) AS events,
           count(*) FILTER (WHERE coalesce(is_error, FALSE)) AS failed,
           min(event_time) AS first_time, max(event_time) AS last_time,
           string_agg(DISTINCT event_name, ', ' ORDER BY event_name) AS event_names,
           string_agg(DISTINCT coalesce(actor, '(unknown)'), ', ' ORDER BY coalesce(actor, '(unknown)')) AS actors
    FROM allr
    GROUP BY ALL
    ORDER BY last_time DESC, resource_type, resource
    """
    # Parameters appear in text order: the window filters first, then the CASE keys.
    df = src.sql(sql, [*params, *key_params])
    return utc_columns(df, "first_time", "last_time")


def hourly_activity(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
    errors_only: bool = False,
) -> pd.DataFrame:
    """Events per (UTC day, hour of day), for the hour x day heatmap.

    Returns
    -------
    DataFrame: day (date), hour (0-23), events, errors; only cells with events.
    """
    src = source(events)
    where, params = _filters(src, start, end, actor, access_key_id, source_ip, None, None, errors_only)
    df = src.sql(
        f"""
        SELECT CAST(event_time AS DATE) AS day, CAST(hour(event_time) AS INTEGER) AS hour,
               count(*) AS events, count(*) FILTER (WHERE coalesce(is_error, FALSE)) AS errors
        FROM events{where} GROUP BY 1, 2 ORDER BY 1, 2
        """,
        params,
    )
    df["day"] = pd.to_datetime(df["day"]).dt.date
    return df


def event_rate(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    freq: str = "1h",
    actor: str | Sequence[str] | None = None,
    access_key_id: str | Sequence[str] | None = None,
    source_ip: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Events per time bucket of ``freq`` (``"5min"``, ``"1h"``, ``"1d"``...), UTC.

    Returns
    -------
    DataFrame: bucket (UTC start of the bucket), events, reads, writes, errors, error_rate.
    Empty buckets between the first and last are included with zero counts.
    """
    src = source(events)
    where, params = _filters(src, start, end, actor, access_key_id, source_ip, None, None, False)
    step = interval(freq)
    df = src.sql(
        f"""
        SELECT time_bucket({step}, event_time) AS bucket, count(*) AS events,
               count(*) FILTER (WHERE {KIND} = 'read') AS reads,
               count(*) FILTER (WHERE {KIND} = 'write') AS writes,
               count(*) FILTER (WHERE {KIND} = 'error') AS errors
        FROM events{where} GROUP BY 1 ORDER BY 1
        """,
        params,
    )
    df = utc_columns(df, "bucket")
    if len(df) > 1:
        offset = pd.to_timedelta(_pandas_freq(step))
        rng = pd.date_range(df["bucket"].min(), df["bucket"].max(), freq=offset)
        df = df.set_index("bucket").reindex(rng, fill_value=0).rename_axis("bucket").reset_index()
    for c in ("events", "reads", "writes", "errors"):
        df[c] = df[c].astype("int64")
    df["error_rate"] = (df["errors"] / df["events"].where(df["events"] > 0)).fillna(0.0)
    return df


def _pandas_freq(step: str) -> str:
    _, n, unit = step.split()
    return n + {"second": "s", "minute": "min", "hour": "h", "day": "D"}[unit]


def marked_events(
    events: Events,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    names: Sequence[str] = DEFAULT_MARKS,
    include_failed: bool = True,
) -> pd.DataFrame:
    """Events to mark on an activity chart (default :data:`DEFAULT_MARKS`), in time order.

    Returns
    -------
    DataFrame: event_time, event_id, event_name, actor, error_code, source_ip_address.
    """
    src = source(events)
    where, params = src.where(start, end, event_names=list(names))
    if not include_failed:
        where = and_where(where, "NOT coalesce(is_error, FALSE)")
    df = src.sql(
        "SELECT event_time, event_id, event_name, actor, error_code, source_ip_address "
        f"FROM events{where} ORDER BY event_time, event_id",
        params,
    )
    return utc_columns(df, "event_time")
