"""``iamforensics iam``: inputs copied with their sha256, analyses written as neutralized CSV."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest

from iamforensics.cli import main
from iamforensics.ingest import ingest
from iamforensics.store import load_manifest
from tests.conftest import shared_path
from tests.iam_fixtures import CREDENTIAL_REPORT, write_details

OUTPUTS = (
    "principals",
    "effective_permissions",
    "role_trust",
    "privileged_principals",
    "admin_principals",
    "admin_activity",
    "credential_report",
    "audit",
    "privilege_ledger",
)


@pytest.fixture()
def case_dir(tmp_path):
    evidence = shared_path(
        "stratus-red-team-detonation-logs", "raw", "aws.persistence.iam-create-admin-user.json"
    )
    d = tmp_path / "case"
    ingest([str(evidence)], d, jobs=1)
    return d


@pytest.fixture()
def inputs(tmp_path):
    cr = tmp_path / "credential-report.csv"
    cr.write_text(CREDENTIAL_REPORT)
    return cr, write_details(tmp_path)


def _rows(path):
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_iam_command_records_inputs_and_writes_every_analysis(case_dir, inputs, capsys):
    cr, details = inputs
    args = ["iam", "--case", str(case_dir), "--credential-report", str(cr), "--authorization-details"]
    assert main([*args, *map(str, details), "--as-of", "2024-05-12"]) == 0
    out = capsys.readouterr().out
    assert "privilege ledger: 3 changes (succeeded 3)" in out
    entries = load_manifest(case_dir)["iam_inputs"]
    assert [e["kind"] for e in entries] == ["credential-report"] + ["authorization-details"] * 3
    for e, src in zip(entries, [cr, *details], strict=True):
        assert e["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        assert (case_dir / e["stored"]).read_bytes() == src.read_bytes()
        assert e["path"] == str(src) and e["size"] == src.stat().st_size
    for name in OUTPUTS:
        assert (case_dir / "iam" / f"{name}.csv").is_file(), name
    ledger = _rows(case_dir / "iam" / "privilege_ledger.csv")
    raw = json.loads(
        shared_path(
            "stratus-red-team-detonation-logs", "raw", "aws.persistence.iam-create-admin-user.json"
        ).read_text()
    )
    assert sorted(r["event_id"] for r in ledger) == sorted(r["eventID"] for r in raw)
    audit = _rows(case_dir / "iam" / "audit.csv")
    assert any(
        r["check"] == "privileged-user-mfa" and r["principal"] == "s3test" and r["status"] == "fail"
        for r in audit
    )


def test_cells_are_neutralized_against_formula_injection(case_dir, inputs):
    cr, details = inputs
    main(["iam", "--case", str(case_dir), "--credential-report", str(cr), "--authorization-details", *map(str, details), "--as-of", "2024-05-12"])  # fmt: skip
    rows = _rows(case_dir / "iam" / "effective_permissions.csv")
    names = {r["policy_name"] for r in rows if r["principal_name"] == "frank"}
    assert names == {"'=1+2"}  # the inline policy named "=1+2" is text, not a formula
    for name in OUTPUTS:
        for row in _rows(case_dir / "iam" / f"{name}.csv"):
            assert not any(v.startswith(("=", "+", "@")) for v in row.values()), (name, row)


def test_rerun_is_idempotent_and_recomputes_from_stored_inputs(case_dir, inputs, capsys):
    cr, details = inputs
    main(["iam", "--case", str(case_dir), "--credential-report", str(cr), "--as-of", "2024-05-12"])
    main(["iam", "--case", str(case_dir), "--credential-report", str(cr), "--as-of", "2024-05-12"])
    assert len(load_manifest(case_dir)["iam_inputs"]) == 1
    first = (case_dir / "iam" / "audit.csv").read_bytes()
    cr.unlink()  # the case keeps its own copy
    assert main(["iam", "--case", str(case_dir), "--as-of", "2024-05-12"]) == 0
    assert (case_dir / "iam" / "audit.csv").read_bytes() == first


def test_changed_stored_input_and_bad_inputs_are_errors(case_dir, inputs, tmp_path, capsys):
    cr, _ = inputs
    assert (
        main(["iam", "--case", str(case_dir), "--credential-report", str(cr), "--as-of", "2024-05-12"]) == 0
    )
    stored = case_dir / load_manifest(case_dir)["iam_inputs"][0]["stored"]
    stored.write_text(stored.read_text().replace("TRUE", "FALSE"))
    assert main(["iam", "--case", str(case_dir)]) == 2
    assert "sha256 differs" in capsys.readouterr().err
    assert main(["iam", "--case", str(tmp_path / "missing"), "--credential-report", str(cr)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iamforensics: error:") and "no such case folder" in err


def test_a_bad_input_is_refused_before_it_enters_the_case(case_dir, tmp_path, capsys):
    bogus = tmp_path / "notes.json"
    bogus.write_text('{"Records": []}')
    assert main(["iam", "--case", str(case_dir), "--authorization-details", str(bogus)]) == 2
    assert "notes.json" in capsys.readouterr().err
    assert "iam_inputs" not in load_manifest(case_dir)


def test_a_case_without_events_still_gets_the_snapshot_analyses(tmp_path, inputs):
    from iamforensics.store import init_case

    cr, details = inputs
    empty = init_case(tmp_path / "empty")
    assert main(["iam", "--case", str(empty), "--authorization-details", *map(str, details)]) == 0
    assert _rows(empty / "iam" / "privilege_ledger.csv") == []
    assert (empty / "iam" / "privilege_ledger.csv").read_text(encoding="utf-8-sig").startswith('"event_time"')
    admins = _rows(empty / "iam" / "admin_principals.csv")
    assert {r["principal_name"] for r in admins if r["principal_kind"] != "root"} == {
        "s3test",
        "breakglass",
        "ghost",
    }
    assert not (empty / "iam" / "audit.csv").exists()  # no credential report, no audit


def test_bad_as_of_is_one_line_error(case_dir, inputs, capsys):
    cr, _ = inputs
    assert main(["iam", "--case", str(case_dir), "--credential-report", str(cr), "--as-of", "12/13/ne"]) == 2
    err = capsys.readouterr().err
    assert "not a time" in err and len(err.splitlines()) == 1
