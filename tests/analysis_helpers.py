"""Cases of real evidence for the analysis and plot tests, each ingested once per process."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from iamforensics import ingest, open_case
from iamforensics.case import Case
from tests.conftest import ROOT, shared_path

STRATUS = ("stratus-red-team-detonation-logs", "raw")
OTRF = ("otrf-ec2-proxy-s3-exfil", "raw", "extracted")
SAMPLES = ROOT / "data" / "samples"

_CASES: dict[str, Path] = {}
_BASE = Path(tempfile.mkdtemp(prefix="iamforensics-analysis-tests-"))
atexit.register(shutil.rmtree, _BASE, ignore_errors=True)


def _case(name: str, evidence: list[Path]) -> Case:
    if name not in _CASES:
        path = _BASE / name
        ingest([str(p) for p in evidence], path, jobs=1)
        _CASES[name] = path
    return open_case(_CASES[name])


def stratus_case(technique: str | None = None) -> Case:
    """All 35 stratus detonation logs, or one technique's file (e.g. ``"ec2-get-password-data"``)."""
    raw = shared_path(*STRATUS)
    if technique is None:
        return _case("stratus", [raw])
    files = sorted(raw.glob(f"aws.*.{technique}.json"))
    if len(files) != 1:
        pytest.skip(f"stratus technique file for {technique!r} not present")
    return _case(f"stratus-{technique}", files)


def stratus_records(technique: str) -> list[dict[str, Any]]:
    """The raw records of one stratus technique file (the test oracle, read without the kit)."""
    raw = shared_path(*STRATUS)
    (path,) = sorted(raw.glob(f"aws.*.{technique}.json"))
    return list(json.loads(path.read_text()))


def otrf_case() -> Case:
    """The OTRF ec2-proxy S3 exfiltration set (Logstash NDJSON)."""
    case = _case("otrf", [shared_path(*OTRF)])
    if len(case) == 0:
        pytest.skip("the OTRF Logstash export is not ingestible yet (no Logstash reader)")
    return case


def otrf_records() -> list[dict[str, Any]]:
    (path,) = sorted(shared_path(*OTRF).glob("*.json"))
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def samples_case() -> Case:
    """The generated sample scenario (data/samples/AWSLogs) with its answer key."""
    logs = SAMPLES / "AWSLogs"
    if not (SAMPLES / "ANSWERS.yaml").is_file() or not logs.is_dir():
        pytest.skip("data/samples (scenario + ANSWERS.yaml) not present")
    return _case("samples", [logs])


def samples_answers() -> dict[str, Any]:
    from iamforensics.samples import load_answers

    return load_answers(SAMPLES)
