"""The command line: ingest with progress and summary, info, and one clean line for expected problems."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iamforensics import __version__
from iamforensics.cli import main
from tests.conftest import shared_path


def rec(n: int) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": f"2024-05-01T10:00:{n:02d}Z",
        "eventID": f"d00dfeed-0000-4000-8000-{n:012d}",
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": "eu-central-1",
        "recipientAccountId": "444455556666",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::444455556666:user/eve"},
    }


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": [rec(i) for i in range(12)]}).encode())
    )
    (ev / "b.json").write_text(json.dumps([rec(3), rec(40)]))
    return ev


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_prints_progress_and_a_closing_summary(evidence, tmp_path, capsys):
    code, out, err = run(capsys, "ingest", str(evidence), "--case", str(tmp_path / "case"), "--jobs", "1")
    assert code == 0
    assert f"case {tmp_path / 'case'}: run " in out
    assert re.search(r"files 2 .*\n.*read 14\s+written 13\s+duplicates 1\s+quarantined 0", out)
    assert "accounting identity holds" in out
    # tqdm's bar: bytes with a rate (MB/s, kB/s, B/s), the time left, and files/records as postfix.
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert re.search(r"ingest: 100%\|", last), last
    assert re.search(r"\d+(\.\d+)?[kMG]?B/s", last) and re.search(r"<\d\d:\d\d", last), last
    assert "files=2" in last and "records=14" in last


def test_quiet_has_no_progress(evidence, tmp_path, capsys):
    code, out, err = run(
        capsys, "ingest", str(evidence), "--case", str(tmp_path / "case"), "--jobs", "1", "--quiet"
    )
    assert code == 0 and err == "" and "written 13" in out


def test_info_prints_the_overview(evidence, tmp_path, capsys):
    main(["ingest", str(evidence), "--case", str(tmp_path / "case"), "--jobs", "1", "--quiet"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text('[{"eventName": "NoTime"}]')
    main(["ingest", str(tmp_path / "bad"), "--case", str(tmp_path / "case"), "--quiet"])
    capsys.readouterr()
    code, out, _ = run(capsys, "info", "--case", str(tmp_path / "case"))
    assert code == 0
    assert re.search(r"events\s+13\s+from 2024-05-01 10:00:00\+00:00 to 2024-05-01 10:00:40\+00:00", out)
    assert re.search(r"ingests\s+2\s+read 15\s+duplicates 1\s+quarantined 1", out)
    for title, line in [
        ("accounts:", r"13\s+444455556666"),
        ("regions:", r"13\s+eu-central-1"),
        ("identity types:", r"13\s+IAMUser"),
        ("top event names:", r"13\s+GetCallerIdentity"),
        ("quarantine by reason:", r"1\s+missing eventTime"),
    ]:
        assert title in out and re.search(line, out.split(title, 1)[1]), title
    code, out, _ = run(capsys, "info", "--case", str(tmp_path / "case"), "--json")
    info = json.loads(out)
    assert info["events"] == 13 and info["quarantine_reasons"] == {"missing eventTime": 1}


def test_formats_and_version(capsys):
    code, out, _ = run(capsys, "formats")
    assert code == 0 and re.search(r"^cloudtrail\s+CloudTrail records", out, re.M) and "digest" in out
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"iamforensics {__version__}"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("iamforensics: error: ") and "Traceback" not in err
    return lines[0]


def test_missing_path(tmp_path, capsys):
    code, out, err = run(capsys, "ingest", str(tmp_path / "nope"), "--case", str(tmp_path / "case"))
    assert code == 2 and out == ""
    assert _one_error_line(err) == f"iamforensics: error: {tmp_path / 'nope'}: no such file or folder"
    assert not (tmp_path / "case").exists()


def test_glob_matching_nothing(tmp_path, capsys):
    code, _, err = run(capsys, "ingest", str(tmp_path / "*.json.gz"), "--case", str(tmp_path / "case"))
    assert code == 2 and "no evidence matches this pattern" in _one_error_line(err)


def test_unreadable_evidence(evidence, tmp_path, capsys):
    # A dangling link: listed by the folder walk, but there is nothing to read.
    os.symlink(tmp_path / "gone.json", evidence / "c.json")
    code, out, err = run(
        capsys, "ingest", str(evidence), "--case", str(tmp_path / "case"), "--jobs", "1", "--quiet"
    )
    assert code == 2
    line = _one_error_line(err)
    assert "1 evidence file(s) could not be read, the rest was ingested" in line
    assert f"{evidence / 'c.json'}: cannot read: FileNotFoundError" in line
    assert "written 13" in out  # the summary still says what was ingested


def test_not_a_case_folder(evidence, tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "report.txt").write_text("hello")
    code, _, err = run(capsys, "info", "--case", str(tmp_path / "docs"))
    assert code == 2 and "not a case folder (no case.json)" in _one_error_line(err)
    code, _, err = run(capsys, "info", "--case", str(tmp_path / "absent"))
    assert code == 2 and "no such case folder" in _one_error_line(err)
    code, _, err = run(capsys, "ingest", str(evidence), "--case", str(tmp_path / "docs"))
    assert code == 2 and "is not empty and is not a case" in _one_error_line(err)
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["report.txt"]


def test_unknown_format(evidence, tmp_path, capsys):
    code, _, err = run(capsys, "ingest", str(evidence), "--case", str(tmp_path / "case"), "--format", "nope")
    assert code == 2 and "unknown format 'nope'; known: " in _one_error_line(err)


def test_strict_names_file_and_position(evidence, tmp_path, capsys):
    (evidence / "c.json").write_text(json.dumps([rec(50), {"eventName": "x"}]))
    code, out, err = run(
        capsys, "ingest", str(evidence), "--case", str(tmp_path / "case"), "--strict", "--quiet"
    )
    assert code == 2 and out == ""
    assert _one_error_line(err) == f"iamforensics: error: {evidence / 'c.json'}: record 1: missing eventTime"
    assert not (tmp_path / "case").exists()


def test_messages_with_newlines_stay_on_one_line(tmp_path, capsys):
    odd = tmp_path / "two\nlines"
    code, _, err = run(capsys, "ingest", str(odd), "--case", str(tmp_path / "case"))
    assert code == 2 and "two lines: no such file or folder" in _one_error_line(err)


def test_a_real_process_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "iamforensics",
            "ingest",
            str(tmp_path / "nope"),
            "--case",
            str(tmp_path / "c"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert _one_error_line(proc.stderr).endswith("nope: no such file or folder")


def test_real_evidence_end_to_end(tmp_path, capsys):
    src = shared_path("stratus-red-team-detonation-logs", "raw")
    code, out, _ = run(capsys, "ingest", str(src), "--case", str(tmp_path / "case"), "--quiet")
    assert code == 0 and "read 310  written 310  duplicates 0  quarantined 0" in out
    code, out, _ = run(capsys, "info", "--case", str(tmp_path / "case"))
    assert re.search(r"events\s+310\s+from 2024-07-30 21:31:10\+00:00 to 2024-11-30 08:43:18\+00:00", out)
    assert re.search(r"241\s+IAMUser\n\s+68\s+AssumedRole\n\s+1\s+FederatedUser", out)
