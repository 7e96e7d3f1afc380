"""The cells of the guided notebooks, as Python data (see tools/build_notebooks.py).

Each notebook is a list of ``("md" | "params" | "code", source)``; the first cell is markdown,
the ``params`` cell is the one papermill injects into. :mod:`.overview` holds 00-04 (the case,
its timeline, API calls, MFA, addresses), :mod:`.leads` 05-08 (sessions, detections, IAM
changes, report).
"""

from __future__ import annotations

# The scenario of data/samples (see data/samples/ANSWERS.yaml): the defaults point at it.
DAVE = "arn:aws:iam::058264710392:user/developers/dave"
LEAKED_KEY = "AKIALXRK7KTX2MSKAWTN"
CHAINED_SESSION = "ASIAN7KKGMPU4FGBFBGI"
EXPIRED_USE_EVENT = "8d9584b9-99c6-4ab3-a128-d3ac97fd1625"
SINCE = "2024-05-08"

TITLES = {
    "00_start_here": "Start here: the case overview",
    "01_timeline": "Timeline: what happened, and when",
    "02_api_calls": "API calls: what was called, what failed, what is new",
    "03_mfa": "MFA: sign-ins and sensitive calls without MFA",
    "04_source_ips": "Source IPs: where the calls came from",
    "05_sessions": "Sessions: who is behind a key or a role session",
    "06_detections": "Detections: findings and triage",
    "07_iam_changes": "IAM changes: accounts, privileges, admin and root (PCI DSS 10.2.5)",
    "08_report": "Report: export the charts and tables",
}

PARAMS_COMMON = """# Parameters (papermill injects its own values after this cell).
CASE = "../out/case"  # the case folder; `make demo` builds the sample case there
START = None  # start of the time window (UTC, inclusive), e.g. "2024-05-08"; None: whole case
END = None  # end of the time window (UTC, exclusive); None: whole case"""

#: The bucket of the event-rate charts (a parameter where a notebook draws one): hourly bars
#: for a week, daily for months (thousands of bars take long to draw and say little).
PARAM_FREQ = """
FREQ = "1h"  # bucket of the event-rate charts: "1h" for days of evidence, "1d" for months"""

SETUP = """import pandas as pd

import iamforensics as ifx
from iamforensics.report import caption, use_house_style

use_house_style()
pd.set_option("display.max_colwidth", 80)
case = ifx.open_case(CASE)
window = None if START is None and END is None else f"{START or 'start of case'} to {END or 'end of case'}"
print(f"{case}: {len(case):,} events; window: {window or 'whole case'} (UTC)")"""


def next_links(current: str) -> str:
    """The 'what to look at next' cell: links to every other notebook."""
    lines = ["## What to look at next", ""]
    for stem, title in TITLES.items():
        if stem != current:
            lines.append(f"- [{stem}.ipynb]({stem}.ipynb): {title}")
    return "\n".join(lines)


def _cells() -> dict[str, list[tuple[str, str]]]:
    from .leads import LEADS
    from .overview import OVERVIEW

    cells = {**OVERVIEW, **LEADS}
    assert list(cells) == list(TITLES), "every titled notebook has cells, in order"
    return cells


CELLS: dict[str, list[tuple[str, str]]] = _cells()
