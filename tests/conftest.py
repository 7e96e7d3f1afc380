"""Shared fixtures: paths to the real public evidence in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("IAMFORENSICS_SHARED", ROOT.parent / "shared")) / "data"
#: SigmaHQ's CloudTrail rules beside the shared evidence (same IAMFORENSICS_SHARED override).
SHARED_SIGMA = SHARED.parent / "sigma" / "rules-cloud-aws-cloudtrail"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real evidence not present: {SHARED} is missing (set IAMFORENSICS_SHARED)")
    return SHARED


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real evidence not present: {p}")
    return p
