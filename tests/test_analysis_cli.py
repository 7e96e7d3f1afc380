"""``iamforensics analyze``: the analyses from the command line, on real evidence."""

from __future__ import annotations

import csv

import pytest

from iamforensics.analysis.cli import terminal_table
from iamforensics.cli import main
from tests.analysis_helpers import stratus_case, stratus_records


def test_analyze_prints_the_get_password_data_burst(capsys):
    case = stratus_case("ec2-get-password-data")
    assert main(["analyze", "denied", "--case", str(case.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("denied (AccessDenied / Unauthorized bursts): 1 rows")
    assert "GetPasswordData" in out and "Client.UnauthorizedOperation" in out


def test_analyze_timeline_filters_and_limit(capsys):
    case = stratus_case("ec2-steal-instance-credentials")
    raw = stratus_records("ec2-steal-instance-credentials")
    key = "AKIAAM80VXLJF8NPK4VC"
    n = sum(1 for r in raw if r["userIdentity"].get("accessKeyId") == key)
    assert main(["analyze", "timeline", "--case", str(case.path), "--access-key", key, "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert f": {n} rows" in out and f"... {n - 5} more rows" in out


def test_analyze_writes_neutralized_csv(tmp_path, capsys):
    case = stratus_case()
    target = tmp_path / "services.csv"
    assert (
        main(
            [
                "analyze",
                "apis",
                "--case",
                str(case.path),
                "--by",
                "service",
                "--top",
                "3",
                "--csv",
                str(target),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(target.open(encoding="utf-8-sig")))
    assert [r["key"] for r in rows][-1] == "other" and len(rows) == 4
    assert sum(int(r["events"]) for r in rows) == len(case)


def test_analyze_needs_since_for_first_seen(capsys):
    case = stratus_case("ec2-get-password-data")
    assert main(["analyze", "first-seen", "--case", str(case.path)]) == 2
    assert "--since" in capsys.readouterr().err


def test_analyze_bad_time_is_one_line_not_a_traceback(capsys):
    case = stratus_case("ec2-get-password-data")
    for opt in ("--start", "--end"):
        assert main(["analyze", "timeline", "--case", str(case.path), opt, "yesterday-ish"]) == 2
        err = capsys.readouterr().err
        assert "not a time: 'yesterday-ish'" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_terminal_cells_cannot_carry_escape_sequences():
    import pandas as pd

    df = pd.DataFrame({"user_agent": ["\x1b[2J\x1b[31mred\nnext line", "u" * 500], "n": [1, None]})
    text = terminal_table(df)
    assert "\x1b" not in text and "next line" in text and text.count("\n") == 2
    assert max(len(line) for line in text.splitlines()) < 100


def test_limit_zero_prints_every_row_and_negative_is_refused(capsys):
    case = stratus_case("ec2-get-password-data")
    assert main(["analyze", "timeline", "--case", str(case.path), "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "more rows" not in out
    n_all = len(case.events())
    assert main(["analyze", "timeline", "--case", str(case.path), "--limit", "1"]) == 0
    assert f"{n_all - 1} more rows" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:  # argparse rejects it with a usage line
        main(["analyze", "timeline", "--case", str(case.path), "--limit", "-1"])
    assert exc.value.code == 2
    assert "not a row count" in capsys.readouterr().err
