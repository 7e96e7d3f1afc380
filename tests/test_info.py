"""info: the case overview (counts, time range, accounts, regions, identities, duplicates, quarantine)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import iamforensics as ifx
from iamforensics.info import case_info, format_info
from tests.conftest import shared_path

DIGEST = {
    "awsAccountId": "111122223333",
    "digestStartTime": "2024-05-01T08:00:00Z",
    "digestEndTime": "2024-05-01T09:00:00Z",
    "digestS3Bucket": "b",
    "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz",
    "logFiles": [],
}


def test_overview_of_real_evidence(tmp_path):
    src = shared_path("stratus-red-team-detonation-logs", "raw")
    ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    ifx.ingest([str(src / "aws.initial-access.console-login-without-mfa.json")], tmp_path / "case", jobs=1)
    case = ifx.open_case(tmp_path / "case")
    info = case.info()
    assert info == case_info(case)
    assert (info["events"], info["read"], info["duplicates"], info["quarantined"]) == (310, 311, 1, 0)
    assert (
        info["ingest_runs"] == 2 and info["schema_version"] == 1 and info["tool_version"] == ifx.__version__
    )
    assert (info["first_event"], info["last_event"]) == (
        "2024-07-30 21:31:10+00:00",
        "2024-11-30 08:43:18+00:00",
    )
    # SOURCE.md: IAMUser 241, AssumedRole 68, FederatedUser 1.
    assert info["identity_types"] == {"IAMUser": 241, "AssumedRole": 68, "FederatedUser": 1}
    # The top event names and regions, counted straight from the files.
    records = [r for f in sorted(src.glob("aws.*.json")) for r in json.loads(f.read_text())]
    names = Counter(r["eventName"] for r in records)
    assert info["top_event_names"] == {
        k: v for k, v in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    }
    regions = Counter(r["awsRegion"] for r in records)
    assert info["regions"] == {k: v for k, v in sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))[:10]}
    assert info["accounts"] and all(len(a) == 12 and a.isdigit() for a in info["accounts"])
    assert info["actors"] == case.sql("SELECT count(DISTINCT actor) n FROM events")["n"][0]
    text = format_info(info)
    assert "events      310" in text and "duplicates 1" in text
    assert text.index("identity types:") < text.index("top event names:")


def test_overview_counts_quarantine_reasons_and_digests(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "digest.json.gz").write_bytes(gzip.compress(json.dumps(DIGEST).encode()))
    (ev / "bad.json").write_text(
        json.dumps([{"eventName": "A"}, {"eventName": "B", "eventTime": "redacted"}])
    )
    (ev / "broken.json").write_text("[{")
    ifx.ingest([str(ev)], tmp_path / "case", jobs=1)
    info = ifx.open_case(tmp_path / "case").info()
    assert info["events"] == 0 and info["first_event"] is None and info["quarantined"] == 3
    assert info["quarantine_reasons"] == {
        "missing eventTime": 1,
        "unparseable eventTime 'redacted'": 1,
        "invalid JSON": 1,
    }
    assert [Path(d).name for d in info["digests"]] == ["digest.json.gz"]
    text = format_info(info)
    assert "quarantine by reason:" in text and "digests 1" in text
    assert "identity types:" not in text  # nothing to list for an empty case


def test_every_identity_type_is_listed(tmp_path):
    """The overview lists every kind of identity, however rare, not only the top ten."""
    samples = Path(__file__).parents[1] / "data" / "samples" / "AWSLogs"
    ifx.ingest([str(samples)], tmp_path / "case", jobs=1)
    case = ifx.open_case(tmp_path / "case")
    info = case_info(case, top=3)
    df = case.sql("SELECT coalesce(user_type, '(none)') AS k, count(*) AS n FROM events GROUP BY 1")
    assert info["identity_types"] == dict(zip(df["k"], df["n"].astype(int), strict=True))
    assert len(info["identity_types"]) > 10 and {"Role", "Directory"} <= set(info["identity_types"])
    assert len(info["regions"]) == 3  # the other lists keep their top
    text = format_info(info)
    assert "  Directory" in text and "  Role" in text
