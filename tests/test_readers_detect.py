"""Format detection by content: every shape goes to its reader; misses name the closest format."""

from __future__ import annotations

import json

import pytest

import iamforensics as ifx
from iamforensics import readers
from iamforensics.cli import main
from iamforensics.errors import EvidenceError
from iamforensics.store import read_quarantine
from tests.conftest import shared_path
from tests.readers_helpers import plaso_events, stratus_records


def test_unknown_csv_names_closest_format_and_missing_column(tmp_path):
    rec = stratus_records()[0]
    csv_text = f"Event name,When,Who\n{rec['eventName']},{rec['eventTime']},x\n"
    with pytest.raises(readers.NoFormatError) as err:
        readers.detect(csv_text.encode())
    assert err.value.closest == "console-csv" and "eventTime" in err.value.why
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "history.csv").write_text(csv_text)
    report = ifx.ingest([str(tmp_path / "ev")], tmp_path / "case", jobs=1)
    (src,) = report.sources
    assert src["closest_format"] == "console-csv" and src["quarantined"] == 1
    (q,) = read_quarantine(tmp_path / "case")
    assert "closest is console-csv" in q["reason"] and q["text"] == csv_text


def test_yaml_records_are_quarantined_not_skipped(tmp_path):
    # Panther's rule YAML embeds records: never skipped as non-evidence.
    folder = shared_path(
        "panther-analysis-cloudtrail-tests", "raw", "test_scenarios", "compromised-root-creds"
    )
    report = ifx.ingest([str(folder / "attacker_cloudtrail.yml")], tmp_path / "case", jobs=1)
    (src,) = report.sources
    assert (
        src["format"] is None and src["closest_format"] == "cloudtrail" and report.counts["quarantined"] == 1
    )


def test_not_evidence_rule_rechecks_the_whole_file():
    license_text = shared_path("stratus-red-team-detonation-logs", "raw", "LICENSE").read_bytes()
    reader = readers.detect(license_text[: readers.HEAD_BYTES])
    assert reader.name == "not-evidence" and list(reader.read(license_text, "LICENSE")) == []
    hidden = license_text + b"\n" * 70000 + b'{"eventName": "StopLogging"}\n'
    (rj,) = list(readers.get("not-evidence").read(hidden, "x"))
    assert "'eventName'" in rj.reason and rj.raw == hidden


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("cloudtrail", lambda recs: json.dumps({"Records": recs})),
        ("lookup-events", lambda recs: json.dumps({"Events": plaso_events()})),
        (
            "eventbridge",
            lambda recs: json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": recs[0]}),
        ),
        ("wrapped", lambda recs: "\n".join(json.dumps({"_meta": 1, "event": r}) for r in recs)),
        (
            "logstash",
            lambda recs: "\n".join(json.dumps({**r, "@timestamp": "t", "@version": "1"}) for r in recs),
        ),
        ("splunk", lambda recs: json.dumps({"result": {"_raw": json.dumps(recs[0]), "_time": "t"}})),
        ("elastic", lambda recs: json.dumps({"@timestamp": "t", "event": {"original": json.dumps(recs[0])}})),
        ("lake", lambda recs: json.dumps({"QueryResultRows": [[{"eventJson": json.dumps(recs[0])}]]})),
        ("cloudwatch", lambda recs: json.dumps({"messageType": "DATA_MESSAGE", "logEvents": []})),
    ],
)
def test_each_shape_is_detected(name, make):
    data = make(stratus_records()[:3]).encode()
    assert readers.detect(data[: readers.HEAD_BYTES]).name == name


def test_format_override_and_formats_listing(tmp_path, capsys):
    f = tmp_path / "ev.json"
    f.write_text("\n".join(json.dumps({"event": r}) for r in stratus_records()[:5]))
    report = ifx.ingest([str(f)], tmp_path / "case", jobs=1, fmt="wrapped")
    assert report.counts["written"] == 5 and report.sources[0]["format"] == "wrapped"
    assert main(["formats"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert {
        "lookup-events",
        "console-csv",
        "lake",
        "cloudwatch",
        "eventbridge",
        "elastic",
        "logstash",
    } <= listed
    assert {"datadog", "splunk", "csv-repr", "wrapped", "not-evidence"} <= listed


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_cloudtrail_saved_as_utf16_is_quarantined_by_name_not_skipped(tmp_path, encoding):
    # A real record file re-saved in a wide encoding (PowerShell's Out-File writes UTF-16):
    # it used to be skipped as binary non-evidence (JSON) or read as NUL-riddled columns (CSV).
    recs = stratus_records()[:5]
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "good.json").write_text(json.dumps({"Records": recs[:3]}))
    wide = json.dumps({"Records": recs[3:]}).encode(encoding)
    (ev / "wide.json").write_bytes(wide)
    (ev / "wide.csv").write_bytes(f"Event name,Event time\n{recs[0]['eventName']},x\n".encode(encoding))
    with pytest.raises(readers.NoFormatError, match="UTF-(16|32).* not UTF-8"):
        readers.detect(wide[: readers.HEAD_BYTES])
    report = ifx.ingest([str(ev)], tmp_path / "case", jobs=1)
    assert report.identity_holds and report.counts["written"] == 3 and report.counts["quarantined"] == 2
    by_name = {q["source"].rsplit("/", 1)[-1]: q for q in read_quarantine(tmp_path / "case")}
    assert set(by_name) == {"wide.json", "wide.csv"}
    assert all("not UTF-8" in q["reason"] and "iconv" in q["reason"] for q in by_name.values())
    with pytest.raises(EvidenceError, match=r"wide\.(json|csv): .*not UTF-8"):
        ifx.ingest([str(ev / "wide.json"), str(ev / "wide.csv")], tmp_path / "strict", jobs=1, strict=True)


def test_wide_text_naming_no_cloudtrail_field_is_still_non_evidence():
    notes = "Investigation notes, nothing else here.\n".encode("utf-16")
    assert readers.detect(notes).name == "not-evidence"
