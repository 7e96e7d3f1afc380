"""First end-to-end check: real stratus evidence ingests with the accounting identity holding."""

from __future__ import annotations

import iamforensics as ifx
from tests.conftest import shared_path


def test_stratus_ingest_roundtrip(tmp_path):
    src = shared_path("stratus-red-team-detonation-logs", "raw")
    report = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    c = report.counts
    assert report.identity_holds
    # 310 records in 35 JSON files; the LICENSE text is skipped by the "not-evidence" rule
    # (it names no CloudTrail field) and listed in the manifest with zero records.
    assert c["read"] == 310 and c["written"] == 310 and c["quarantined"] == 0
    skipped = [s for s in report.sources if s.get("format") == "not-evidence"]
    assert [(s["source"].rsplit("/", 1)[-1], s["records"]) for s in skipped] == [("LICENSE", 0)]
    case = ifx.open_case(tmp_path / "case")
    assert len(case) == 310
    df = case.events(
        event_names=["ConsoleLogin"], columns=["event_time", "event_id", "mfa_used", "login_result"]
    )
    assert len(df) == 1
    assert not df["mfa_used"].iloc[0] and df["login_result"].iloc[0] == "Success"
    again = ifx.ingest([str(src)], tmp_path / "case", jobs=1)
    assert again.counts["written"] == 0 and again.counts["duplicates"] == 310
    assert len(ifx.open_case(tmp_path / "case")) == 310
