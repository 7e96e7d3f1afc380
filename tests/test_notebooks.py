"""The guided notebooks: committed clean, built by tools/build_notebooks.py, and each one runs
end to end (papermill, kernel python3 of this venv) on the sample case and shows its answers."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest

from tests.analysis_helpers import samples_answers, samples_case
from tests.conftest import ROOT
from tools import build_notebooks
from tools.run_notebooks import KERNEL, SHARED_SIGMA, notebook_paths, run_notebook

NOTEBOOKS = notebook_paths()
STEMS = [p.stem for p in NOTEBOOKS]

#: What each executed notebook must show on the sample scenario (data/samples/ANSWERS.yaml);
#: ``{events}`` is the answer key's count of distinct events, as the notebook prints it (8,128).
ANSWERS: dict[str, list[str]] = {
    "00_start_here": ["{events}", "058264710392", "210987654321", "StopLogging", "DeactivateMFADevice"],
    "01_timeline": ["5.188.10.77", "193.32.162.80", "svc-backup", "ops-support-readonly", "acme-prod-trail"],
    "02_api_calls": ["AccessDenied", "GetAccountAuthorizationDetails", "ExpiredToken", "StopLogging"],
    "03_mfa": [
        "DeactivateMFADevice",
        "4ff13dff-b42d-404e-b57a-4b58ec030d36",
        "no mfa",
        "Failed authentication",
    ],
    "04_source_ips": ["Russia", "Romania", "Green Floid LLC", "Unmanaged Ltd", "14260"],
    "05_sessions": [
        "ASIAOLAWXS3UOTDEL32B",
        "ASIA5V7JPPI75D56S2ZX",
        "ASIAN7KKGMPU4FGBFBGI",
        "used-after-expiry",
        "arn:aws:iam::058264710392:user/developers/dave",
    ],
    "06_detections": [
        "iam-attach-admin-policy",
        "cloudtrail-stop-logging",
        "iam-deactivate-mfa",
        "ec2-snapshot-shared",
    ],
    "07_iam_changes": [
        "AdministratorAccess",
        "ops-support-readonly",
        "svc-backup",
        "739275464182",
        "DeactivateMFADevice",
    ],
    "08_report": ["tables.xlsx", "session_tree.png", "report.html"],
}


def _code(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(nb: nbformat.NotebookNode) -> str:
    """Every text and HTML output of an executed notebook, joined."""
    parts: list[str] = []
    for cell in _code(nb):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            for mime in ("text/plain", "text/html"):
                parts.append(str(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def test_every_notebook_is_present() -> None:
    assert STEMS == list(build_notebooks.TITLES)
    assert set(ANSWERS) == set(STEMS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=STEMS)
def test_committed_notebook_is_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown"
    assert "**Question:**" in nb.cells[0].source and "CloudTrail fields" in nb.cells[0].source
    for cell in _code(nb):
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, cell.id
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].cell_type == "code"
    assigned = {t.id for node in ast.parse(params[0].source).body for t in getattr(node, "targets", [])}
    assert {"CASE", "START", "END"} <= assigned
    for cell in _code(nb):
        tree = ast.parse(cell.source)
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
        ]
        assert not defs, f"{path.name} cell {cell.id} defines logic: it belongs in the package"
        assert "def " not in cell.source and "class " not in cell.source and "lambda" not in cell.source
    links = nb.cells[-1].source
    assert nb.cells[-1].cell_type == "markdown" and "What to look at next" in links
    for other in STEMS:
        if other != path.stem:
            assert f"({other}.ipynb)" in links


def test_notebooks_match_their_build_script() -> None:
    assert build_notebooks.main(["--check"]) == 0


def test_kernel_is_this_venv_python() -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    km = KernelManager(kernel_name=KERNEL)
    cmd = km.format_kernel_cmd()
    assert spec.language == "python"
    assert cmd[0] == sys.executable, (spec.resource_dir, cmd)


@pytest.fixture(scope="module")
def case_path() -> Path:
    case = samples_case()
    case.sessions()  # build the session cache once, outside the kernels
    return case.path


@pytest.mark.parametrize("path", NOTEBOOKS, ids=STEMS)
def test_notebook_runs_and_shows_the_answers(path: Path, case_path: Path, tmp_path: Path) -> None:
    params: dict[str, object] = {"CASE": str(case_path)}
    if path.stem == "06_detections" and SHARED_SIGMA.is_dir():
        params["SIGMA_DIR"] = str(SHARED_SIGMA)
    if path.stem == "08_report":
        params["OUT"] = str(tmp_path / "report")
    executed = run_notebook(path, tmp_path, params)
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in _code(nb) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = _text(nb)
    events = f"{samples_answers()['evidence']['unique_events']:,}"
    missing = [a for a in (x.replace("{events}", events) for x in ANSWERS[path.stem]) if a not in text]
    assert not missing, f"{path.name} does not show {missing}"
    charts = sum("image/png" in o.get("data", {}) for c in _code(nb) for o in c.get("outputs", []))
    assert charts >= 1
    html = executed.with_suffix(".html").read_text(encoding="utf-8")
    assert "<html" in html and "data:image/png;base64" in html
    assert not (ROOT / "notebooks" / executed.name).samefile(executed)
    if path.stem == "08_report":
        out = tmp_path / "report"
        assert (out / "tables.xlsx").stat().st_size > 0
        assert {"event_rate.png", "session_tree.svg", "top_ips.png"} <= {
            p.name for p in (out / "figures").iterdir()
        }
        assert (out / "tables" / "privilege_ledger.csv").is_file()
        assert (out / "report" / "report.html").is_file()


def test_start_here_ingests_evidence_into_a_new_case(tmp_path: Path) -> None:
    """00 with EVIDENCE: the ingest summary, then the overview of the case it made."""
    evidence = ROOT / "data" / "samples" / "public" / "stratus-red-team"
    case = tmp_path / "stratus-case"
    path = NOTEBOOKS[STEMS.index("00_start_here")]
    executed = run_notebook(
        path, tmp_path, {"CASE": str(case), "EVIDENCE": [str(evidence)], "FREQ": "1d"}, html=False
    )
    text = _text(nbformat.read(executed, as_version=4))
    assert "accounting identity holds" in text
    assert "not-covered" in text and "signatures were NOT checked" in text  # no digests in it
    assert "StopLogging" in text and "ConsoleLogin" in text
    assert "unchanged" in text and "missing" not in text  # custody: the evidence just ingested
    assert (case / "case.json").is_file()


def test_iam_changes_with_credential_report_and_details(case_path: Path, tmp_path: Path) -> None:
    """07 with the IAM snapshots: the audit and the admin principals appear next to the ledger."""
    from tests.iam_fixtures import CREDENTIAL_REPORT, write_details

    report = tmp_path / "credential-report.csv"
    report.write_text(CREDENTIAL_REPORT)
    details = [str(p) for p in write_details(tmp_path)]
    path = NOTEBOOKS[STEMS.index("07_iam_changes")]
    params = {
        "CASE": str(case_path),
        "CREDENTIAL_REPORT": str(report),
        "AUTHORIZATION_DETAILS": details,
        "AS_OF": "2024-05-12",
    }
    executed = run_notebook(path, tmp_path, params, html=False)
    text = _text(nbformat.read(executed, as_version=4))
    assert "root-access-keys" in text and "privileged-user-mfa" in text
    assert "arn:aws:iam::111111111111:role/breakglass" in text
    assert "audit skipped" not in text and "admins unknown" not in text
    assert "ops-support-readonly" in text  # the ledger still comes from the case's CloudTrail


def test_record_text_is_escaped_in_the_html(tmp_path: Path) -> None:
    """Every string in a record is attacker-controlled: markup in it stays text in the HTML."""
    import json

    from iamforensics import ingest

    hostile = "<script>alert('ua')</script>"
    records = [
        {
            "eventVersion": "1.10",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEHOSTILE01",
                "arn": "arn:aws:iam::111122223333:user/<img src=x onerror=alert(1)>",
                "accountId": "111122223333",
                "accessKeyId": "AKIAHOSTILEEXAMPLE01",
                "userName": "<img src=x onerror=alert(1)>",
            },
            "eventTime": f"2024-05-08T02:{i:02d}:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateUser" if i % 2 else "ListUsers",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "5.188.10.77",
            "userAgent": hostile,
            "requestParameters": {"userName": '<b>$x$</b>=HYPERLINK("http://example.invalid")'},
            "responseElements": None,
            "eventID": f"00000000-0000-4000-8000-0000000000{i:02d}",
            "readOnly": not i % 2,
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333",
        }
        for i in range(6)
    ]
    evidence = tmp_path / "hostile.json"
    evidence.write_text(json.dumps({"Records": records}))
    case = tmp_path / "case"
    ingest([evidence], case, jobs=1)
    path = NOTEBOOKS[STEMS.index("01_timeline")]
    executed = run_notebook(
        path, tmp_path / "nb", {"CASE": str(case), "ACCESS_KEY_ID": "AKIAHOSTILEEXAMPLE01"}
    )
    html = executed.with_suffix(".html").read_text(encoding="utf-8")
    assert "AKIAHOSTILEEXAMPLE01" in html
    assert hostile not in html and "<img src=x" not in html and "<b>$x$</b>" not in html
    assert "&lt;script&gt;alert(" in html or "&lt;img src=x" in html


def test_detections_notebook_on_a_window_without_findings(case_path: Path, tmp_path: Path) -> None:
    """A window with no events still runs (no chart to draw is said, not raised)."""
    path = NOTEBOOKS[STEMS.index("06_detections")]
    executed = run_notebook(path, tmp_path, {"CASE": str(case_path), "START": "2030-01-01"}, html=False)
    assert "no findings in the window" in _text(nbformat.read(executed, as_version=4))
