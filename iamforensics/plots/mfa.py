"""MFA charts: sign-in outcomes by principal type and MFA, MFA coverage per actor.

Examples
--------
>>> from iamforensics.analysis import mfa
>>> sign_in_outcomes(mfa.sign_in_outcomes(case))  # doctest: +SKIP
>>> coverage(mfa.mfa_coverage(case))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._axes import axes, no_data
from ._text import safe_label

#: Colour per (result, MFA status) segment; "no mfa" successes stand out.
OUTCOME_COLORS: dict[str, str] = {
    "Success / mfa": "#009E73",
    "Success / mfa at IdP": "#56B4E9",
    "Success / no mfa": "#D55E00",
    "Success / unknown": "#F0E442",
    "Failure / mfa": "#999999",
    "Failure / mfa at IdP": "#BBBBBB",
    "Failure / no mfa": "#555555",
    "Failure / unknown": "#DDDDDD",
}


def sign_in_outcomes(data: pd.DataFrame, *, ax: Axes | None = None, title: str = "Console sign-ins") -> Axes:
    """Horizontal bars per principal type, stacked by result and MFA status.

    ``data``: :func:`iamforensics.analysis.mfa.sign_in_outcomes` output
    (principal_type, result, mfa_status, sign_ins).
    """
    ax = axes(ax, (9, 3.5))
    if data.empty:
        return no_data(ax, title)
    d = data.assign(segment=data["result"].astype(str) + " / " + data["mfa_status"].astype(str))
    wide = d.pivot_table(
        index="principal_type", columns="segment", values="sign_ins", aggfunc="sum", fill_value=0
    )
    segs = [s for s in OUTCOME_COLORS if s in wide.columns] + sorted(
        s for s in wide.columns if s not in OUTCOME_COLORS
    )
    y = np.arange(len(wide))
    left = np.zeros(len(wide))
    for seg in segs:
        vals = wide[seg].to_numpy(dtype=float)
        ax.barh(
            y, vals, left=left, color=OUTCOME_COLORS.get(seg, "#CC79A7"), label=safe_label(seg), height=0.6
        )
        left += vals
    ax.set_yticks(y, [safe_label(p) for p in wide.index])
    ax.invert_yaxis()
    ax.set_xlabel("sign-ins")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return ax


def coverage(
    data: pd.DataFrame, *, ax: Axes | None = None, max_actors: int = 25, title: str = "MFA coverage per actor"
) -> Axes:
    """Per actor, the share of events made with MFA, at the IdP and without MFA (100% bars),
    least covered first, with the number of sensitive calls without MFA at the bar's end.

    ``data``: :func:`iamforensics.analysis.mfa.mfa_coverage` output.
    """
    ax = axes(ax, (10, 0.8 + 0.32 * min(max_actors, max(1, len(data)))))
    if data.empty:
        return no_data(ax, title)
    d = data.head(max_actors)
    total = (d["mfa"] + d["mfa_at_idp"] + d["no_mfa"]).replace(0, np.nan)
    y = np.arange(len(d))
    left = np.zeros(len(d))
    for col, label, color in (
        ("mfa", "mfa", "#009E73"),
        ("mfa_at_idp", "mfa at IdP", "#56B4E9"),
        ("no_mfa", "no mfa", "#D55E00"),
    ):
        share = (d[col] / total * 100).fillna(0.0).to_numpy()
        ax.barh(y, share, left=left, color=color, label=label, height=0.7)
        left += share
    for yi, n in zip(y, d["sensitive_no_mfa"], strict=True):
        if n:
            ax.text(101, float(yi), f"{int(n)} sensitive", va="center", fontsize=7, color="#D55E00")
    ax.set_yticks(y, [safe_label(a, 50) for a in d["actor"]])
    ax.invert_yaxis()
    ax.set_xlim(0, 120)
    ax.set_xlabel("share of the actor's events (%)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return ax
