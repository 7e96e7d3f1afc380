"""Every public dataset in ../shared/data ingests; nothing a human would call a valid record is lost.

A quarantined unit is acceptable only when it is not a valid CloudTrail record: a JSON
object with a parseable ``eventTime`` and an ``eventName``/``eventSource`` (or Insights
details). Files that name no CloudTrail field (LICENSE, metadata YAML) are skipped by the
``not-evidence`` rule and listed with zero records.
"""

from __future__ import annotations

import json

import pytest

import iamforensics as ifx
from iamforensics.store import read_quarantine
from iamforensics.timeparse import parse_time
from tests.conftest import shared_path

#: (folder, expected written, expected quarantined) — counts from each SOURCE.md.
DATASETS = [
    ("stratus-red-team-detonation-logs/raw", 310, 0),
    # 563 examples, 249 of them the same event filed under two names; 380 ATT&CK metadata
    # files (eventName + description, no event) and the README are quarantined.
    ("traildiscover-log-examples/raw", 314, 381),
    ("plaso-lookup-events-jsonl/raw", 6, 0),
    ("otrf-ec2-proxy-s3-exfil/raw", 103, 0),
    ("otrf-s3-honeybucket/raw", 301, 0),
    # 16 hand-written test stubs have no time at all (absent, "redacted", "...").
    ("panther-analysis-cloudtrail-tests/derived", None, 16),
    # One documentation fragment {eventVersion, userIdentity}. Two pairs of examples share an
    # eventID and time but differ (MFAUsed No/YES, MfaType): both of each pair are kept.
    ("awsdocs-cloudtrail-user-guide-examples/derived", 23, 1),
]


def _valid_record(text: str) -> bool:
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    when = obj.get("eventTime")
    has_event = bool(obj.get("eventName") or obj.get("eventSource") or obj.get("insightDetails"))
    return has_event and isinstance(when, str) and parse_time(when) is not None


@pytest.mark.parametrize(
    ("folder", "written", "quarantined"), DATASETS, ids=[d[0].split("/")[0] for d in DATASETS]
)
def test_dataset_ingests(tmp_path, folder, written, quarantined):
    src = shared_path(*folder.split("/"))
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    c = report.counts
    assert report.identity_holds
    assert c["read"] == c["written"] + c["duplicates"] + c["quarantined"]
    if written is not None:
        assert c["written"] == written
    assert c["quarantined"] == quarantined
    for q in read_quarantine(tmp_path / "case"):
        assert not _valid_record(q["text"]), (q["source"], q["position"], q["reason"])
    for s in report.sources:
        if s.get("format") == "not-evidence":
            assert (
                s["records"] == 0
                and "eventname" not in src.joinpath(s["source"]).read_text(errors="replace").lower()
            )
