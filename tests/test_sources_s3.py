"""S3 as a source, against a local S3 server (moto, server mode) on a free loopback port.

The corpus is the real Stratus records laid out as CloudTrail delivers them: an
organization trail (``AWSLogs/o-.../<account>/CloudTrail/<region>/YYYY/MM/DD/``, delivery
five minutes after the event), a member-account trail under another prefix repeating some
of the same events, a digest file and a non-CloudTrail service folder. Requests are taken
from the server's own request log, so "never listed, never read" is checked where it
happens.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pytest

import iamforensics as ifx
from iamforensics.cli import main
from iamforensics.errors import EvidenceError
from iamforensics.sources_s3 import S3Options
from tests.conftest import shared_path
from tests.readers_helpers import stratus_records

BUCKET = "org-trail-evidence"
ORG = "o-a1b2c3d4e5"
KEY = re.compile(r"AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail/([^/]+)/(\d{4})/(\d{2})/(\d{2})/")


class _RequestLog(logging.Handler):
    """The moto server's access log (werkzeug): one line per HTTP request it served."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def requests(self) -> list[tuple[str, str, dict[str, list[str]]]]:
        out = []
        for line in self.lines:
            m = re.search(r'"(?:\x1b\[[0-9;]*m)*(GET|HEAD|PUT|POST) (\S+) HTTP', line)
            if m:
                url = urlparse(m.group(2))
                out.append((m.group(1), unquote(url.path), parse_qs(url.query)))
        return out


def _delivery(rec: dict) -> datetime:
    return datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ") + timedelta(minutes=5)


def _layout(recs: list[dict]) -> dict[str, list[dict]]:
    """key -> records, as an organization trail would deliver them."""
    files: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in recs:
        d = _delivery(r)
        files[(r["recipientAccountId"], r["awsRegion"], d.strftime("%Y%m%dT%H%MZ"))].append(r)
    out = {}
    for (acct, region, stamp), rs in files.items():
        day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
        name = f"{acct}_CloudTrail_{region}_{stamp}_{hashlib.sha1(stamp.encode()).hexdigest()[:16]}.json.gz"
        out[f"AWSLogs/{ORG}/{acct}/CloudTrail/{region}/{day}/{name}"] = rs
    return out


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1:<free port> with the corpus uploaded; fake credentials only."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("aws")
    (home / "config").write_text("[profile forensics]\nregion = us-east-1\n")
    (home / "credentials").write_text(
        "[forensics]\naws_access_key_id = AKIAFAKE\naws_secret_access_key = fake\n"
    )
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    mp.delenv("AWS_ENDPOINT_URL", raising=False)
    import boto3
    from moto.server import ThreadedMotoServer

    log = _RequestLog()
    wlog = logging.getLogger("werkzeug")
    old_level = wlog.level
    wlog.setLevel(logging.INFO)
    wlog.addHandler(log)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    recs = stratus_records()
    org = _layout(recs)
    uploaded: dict[str, bytes] = {}
    for key, rs in org.items():
        uploaded[key] = gzip.compress(json.dumps({"Records": rs}).encode(), mtime=0)
    # A member-account trail of the first account repeats its events (same eventIDs).
    first_acct = KEY.search(next(iter(org))).group(1)  # type: ignore[union-attr]
    for key, rs in org.items():
        if f"/{first_acct}/" in key:
            uploaded["member-trail/" + key.replace(f"{ORG}/", "")] = gzip.compress(
                json.dumps({"Records": rs}).encode(), mtime=1
            )
    digest = {"awsAccountId": first_acct, "digestStartTime": "x", "digestEndTime": "y"}
    digest |= {"digestS3Bucket": BUCKET, "digestS3Object": "k", "logFiles": []}
    uploaded[f"AWSLogs/{ORG}/{first_acct}/CloudTrail-Digest/us-east-1/2024/07/30/d.json.gz"] = gzip.compress(
        json.dumps(digest).encode()
    )
    uploaded[f"AWSLogs/{ORG}/{first_acct}/vpcflowlogs/us-east-1/2024/07/30/flow.log.gz"] = gzip.compress(
        b"version account-id interface-id srcaddr dstaddr\n2 1 eni-1 10.0.0.1 10.0.0.2\n"
    )
    for key, body in uploaded.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    log.lines.clear()
    yield {"endpoint": endpoint, "client": client, "org": org, "uploaded": uploaded, "log": log, "recs": recs}
    server.stop()
    wlog.removeHandler(log)
    wlog.setLevel(old_level)
    mp.undo()


def test_pruned_org_trail_lists_and_reads_only_the_selection(s3, tmp_path):
    org, log = s3["org"], s3["log"]
    per_acct: dict[str, int] = defaultdict(int)
    for key in org:
        per_acct[KEY.search(key).group(1)] += 1  # type: ignore[union-attr]
    acct = max(per_acct, key=per_acct.get)  # type: ignore[arg-type]
    days = sorted({KEY.search(k).groups()[2:] for k in org if f"/{acct}/" in k})  # type: ignore[union-attr]
    region = KEY.search(next(k for k in org if f"/{acct}/" in k)).group(2)  # type: ignore[union-attr]
    start = date(*map(int, days[0]))
    opts = S3Options(endpoint_url=s3["endpoint"], accounts=(acct,), regions=(region,), start=start, end=start)
    lo, hi = start - timedelta(days=1), start + timedelta(days=1)

    def selected(key: str) -> bool:
        m = KEY.search(key)
        if not m or key.startswith("member-trail/"):
            return False
        a, r, y, mo, d = m.groups()
        return a == acct and r == region and lo <= date(int(y), int(mo), int(d)) <= hi

    expected = {k for k in org if selected(k)}
    assert expected and len(expected) < len(org)
    log.lines.clear()
    report = ifx.ingest([f"s3://{BUCKET}"], tmp_path / "case", jobs=1, s3=opts)
    got = {s["key"] for s in report.sources}
    assert got == expected
    # Server side: no object outside the selection was fetched, no folder outside it listed.
    reqs = log.requests()
    fetched = {p.split("/", 2)[2] for m, p, q in reqs if m == "GET" and "list-type" not in q}
    assert fetched == expected
    for _method, _, q in reqs:
        if "list-type" not in q:
            continue
        prefix = q.get("prefix", [""])[0]
        date_part = re.search(r"/CloudTrail/([^/]+)/(\d{4})/(\d{2})/(\d{2})/", prefix)
        if date_part:
            r, y, mo, d = date_part.groups()
            assert r == region and lo <= date(int(y), int(mo), int(d)) <= hi, prefix
        acct_part = re.search(rf"AWSLogs/{ORG}/(\d{{12}})/", prefix)
        if acct_part:
            assert acct_part.group(1) == acct, prefix
    # Records: exactly those of the selected files.
    want = sum(len(org[k]) for k in expected)
    assert report.identity_holds and report.counts["read"] == want
    # Manifest: key, size, ETag and sha256 of each object as stored.
    for src in report.sources:
        body = s3["uploaded"][src["key"]]
        head = s3["client"].head_object(Bucket=BUCKET, Key=src["key"])
        assert src["bucket"] == BUCKET and src["size"] == len(body) == head["ContentLength"]
        assert src["sha256"] == hashlib.sha256(body).hexdigest()
        assert src["etag"] == head["ETag"].strip('"')
    run = ifx.open_case(tmp_path / "case").manifest["runs"][-1]
    assert run["options"]["s3"]["delivery_folders"] == [lo.isoformat(), hi.isoformat()]
    listings = [q for _m, _p, q in reqs if "list-type" in q]
    assert run["options"]["s3"]["listing_requests"] == len(listings)


def test_whole_bucket_dedups_trails_and_lists_digests(s3, tmp_path):
    report = ifx.ingest(
        [f"s3://{BUCKET}"], tmp_path / "case", jobs=1, s3=S3Options(endpoint_url=s3["endpoint"])
    )
    c = report.counts
    member = [k for k in s3["uploaded"] if k.startswith("member-trail/")]
    repeated = sum(
        len(s3["org"][k[len("member-trail/") :].replace("AWSLogs/", f"AWSLogs/{ORG}/", 1)]) for k in member
    )
    assert member and repeated and report.identity_holds
    # The member trail repeats org-trail events: kept once, counted as duplicates.
    assert (c["written"], c["duplicates"], c["quarantined"]) == (len(s3["recs"]), repeated, 0)
    others = {s["key"].split("/")[3]: s["format"] for s in report.sources if s["format"] != "cloudtrail"}
    assert others == {"CloudTrail-Digest": "digest", "vpcflowlogs": "not-evidence"}


def test_event_before_midnight_delivered_after_is_kept(s3, tmp_path):
    # Delivery folders are dated by delivery: an event at 23:58 lands in the next day's folder.
    rec = dict(
        s3["recs"][0], eventID="0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", eventTime="2024-09-10T23:58:00Z"
    )
    acct = rec["recipientAccountId"]
    key = f"AWSLogs/{acct}/CloudTrail/us-east-1/2024/09/11/{acct}_CloudTrail_us-east-1_20240911T0003Z_a1b2c3d4e5f6a7b8.json.gz"
    s3["client"].create_bucket(Bucket="late-delivery")
    s3["client"].put_object(
        Bucket="late-delivery", Key=key, Body=gzip.compress(json.dumps({"Records": [rec]}).encode())
    )
    day = date(2024, 9, 10)
    opts = S3Options(endpoint_url=s3["endpoint"], accounts=(acct,), start=day, end=day)
    report = ifx.ingest(["s3://late-delivery"], tmp_path / "case", jobs=1, s3=opts)
    assert report.counts["written"] == 1
    df = ifx.open_case(tmp_path / "case").events(columns=["event_id", "event_time"])
    assert df["event_time"].iloc[0].date() == day


def test_member_trail_prefix_and_cli_with_profile(s3, tmp_path, capsys):
    case = tmp_path / "case"
    rc = main(
        [
            "ingest",
            f"s3://{BUCKET}/member-trail",
            "--case",
            str(case),
            "--jobs",
            "2",
            "--quiet",
            "--profile",
            "forensics",
            "--endpoint-url",
            s3["endpoint"],
            "--regions",
            "us-east-1,apiso-northsouth-3r",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    sources = ifx.open_case(case).manifest["runs"][-1]["sources"]
    keys = {s["key"] for s in sources}
    member_keys = {k for k in s3["uploaded"] if k.startswith("member-trail/")}
    regions = {KEY.search(k).group(2) for k in keys}  # type: ignore[union-attr]
    assert keys and keys <= member_keys and regions <= {"us-east-1", "apiso-northsouth-3r"}


def test_errors_are_one_clear_line(s3, tmp_path, capsys):
    rc = main(
        [
            "ingest",
            f"s3://{BUCKET}",
            "--case",
            str(tmp_path / "c1"),
            "--profile",
            "nobody",
            "--endpoint-url",
            s3["endpoint"],
        ]
    )
    assert rc == 2 and "profile" in capsys.readouterr().err.lower()
    with pytest.raises(EvidenceError, match="no such bucket"):
        ifx.ingest(
            ["s3://no-such-bucket-here"], tmp_path / "c2", jobs=1, s3=S3Options(endpoint_url=s3["endpoint"])
        )
    with pytest.raises(EvidenceError, match="no CloudTrail objects match accounts"):
        ifx.ingest(
            [f"s3://{BUCKET}"],
            tmp_path / "c4",
            s3=S3Options(endpoint_url=s3["endpoint"], accounts=("000000000000",)),
        )
    rc = main(["ingest", str(tmp_path), "--case", str(tmp_path / "c3"), "--accounts", "1"])
    assert rc == 2 and "s3://" in capsys.readouterr().err


def test_zip_object_is_read_member_by_member(s3, tmp_path):
    body = shared_path("otrf-ec2-proxy-s3-exfil", "raw", "ec2_proxy_s3_exfiltration.zip").read_bytes()
    s3["client"].create_bucket(Bucket="zipped-export")
    s3["client"].put_object(Bucket="zipped-export", Key="exports/otrf.zip", Body=body)
    report = ifx.ingest(
        ["s3://zipped-export/exports"], tmp_path / "case", jobs=1, s3=S3Options(endpoint_url=s3["endpoint"])
    )
    (src,) = report.sources
    assert src["source"].startswith("s3://zipped-export/exports/otrf.zip!") and src["format"] == "logstash"
    assert src["archive_sha256"] == hashlib.sha256(body).hexdigest() and report.counts["written"] == 103
