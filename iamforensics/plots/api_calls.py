"""API-call charts: horizontal bars stacked read / write / error, error rate over time.

Examples
--------
>>> from iamforensics.analysis import api_calls as ac, timeline as tl
>>> bars(ac.histogram(case, by="service", top=15))  # doctest: +SKIP
>>> error_rate(tl.event_rate(case, freq="1h"))  # doctest: +SKIP
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._axes import axes, no_data, utc_time_axis
from ._text import safe_label
from .timeline import KIND_STYLE


def bars(
    data: pd.DataFrame, *, ax: Axes | None = None, title: str = "API calls", max_label: int = 45
) -> Axes:
    """One horizontal bar per key, stacked read / write / error, largest on top.

    ``data``: :func:`iamforensics.analysis.api_calls.histogram` output (key, read, write, error).
    """
    ax = axes(ax, (9, 0.8 + 0.32 * max(1, len(data))))
    if data.empty:
        return no_data(ax, title)
    y = np.arange(len(data))
    left = np.zeros(len(data))
    for col in ("read", "write", "error"):
        vals = data[col].to_numpy(dtype=float)
        ax.barh(y, vals, left=left, color=KIND_STYLE[col]["color"], label=col, height=0.7)
        left += vals
    ax.set_yticks(y, [safe_label(k, max_label) for k in data["key"]])
    ax.invert_yaxis()
    ax.set_xlabel("events")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def error_rate(data: pd.DataFrame, *, ax: Axes | None = None, title: str = "Error rate") -> Axes:
    """Share of failed calls per time bucket (line) over the number of events (bars).

    ``data``: :func:`iamforensics.analysis.timeline.event_rate` output (bucket, events, errors).
    """
    ax = axes(ax, (11, 4))
    if data.empty:
        return no_data(ax, title)
    x = mdates.date2num(pd.to_datetime(data["bucket"], utc=True).dt.tz_convert(None).to_numpy())
    width = float(np.median(np.diff(x))) if len(x) > 1 else 1 / 24
    rate = (data["errors"] / data["events"].where(data["events"] > 0)).fillna(0.0).to_numpy() * 100
    ax.bar(x, data["events"].to_numpy(dtype=float), width=width, align="edge", color="0.85", label="events")
    ax.set_ylabel("events")
    ax2 = ax.twinx()
    ax2.plot(x + width / 2, rate, color=str(KIND_STYLE["error"]["color"]), marker=".", label="error rate (%)")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("failed calls (%)")
    ax.xaxis_date()
    utc_time_axis(ax)
    ax.set_title(title)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    return ax
