"""Timeline charts: swimlanes per actor, the hour x day heatmap, event rate with marks.

Examples
--------
>>> from iamforensics.analysis import timeline as tl
>>> swimlane(tl.timeline(case, "2024-05-08", "2024-05-09"))  # doctest: +SKIP
>>> hourly_heatmap(tl.hourly_activity(case))  # doctest: +SKIP
>>> event_rate(tl.event_rate(case, freq="1h"), marks=tl.marked_events(case))  # doctest: +SKIP
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._axes import axes, no_data, utc_time_axis
from ._text import safe_label

#: Marker and colour per kind of event (colour-blind-safe Okabe-Ito colours).
KIND_STYLE: dict[str, dict[str, object]] = {
    "read": {"marker": "o", "color": "#0072B2", "s": 14},
    "write": {"marker": "^", "color": "#E69F00", "s": 36},
    "error": {"marker": "x", "color": "#D55E00", "s": 36},
}


def swimlane(
    data: pd.DataFrame,
    *,
    ax: Axes | None = None,
    lane: str = "actor",
    max_lanes: int = 20,
    title: str = "Activity by actor",
) -> Axes:
    """One horizontal lane per actor (most active ``max_lanes``, ordered by first event), a
    marker per event: circle read, triangle write, cross error.

    ``data``: :func:`iamforensics.analysis.timeline.timeline` output (event_time, actor, kind).
    """
    ax = axes(ax, (11, 0.9 + 0.35 * min(max_lanes, max(1, data[lane].nunique() if lane in data else 1))))
    if data.empty:
        return no_data(ax, title)
    df = data[["event_time", lane, "kind"]].copy()
    df[lane] = df[lane].fillna("(unknown)").astype(str)
    top = df[lane].value_counts().head(max_lanes).index
    dropped = df[lane].nunique() - len(top)
    df = df[df[lane].isin(top)]
    order = df.groupby(lane)["event_time"].min().sort_values().index.tolist()
    pos = {name: i for i, name in enumerate(order)}
    y = df[lane].map(pos)
    times = mdates.date2num(pd.to_datetime(df["event_time"], utc=True).dt.tz_convert(None).to_numpy())
    for kind, style in KIND_STYLE.items():
        m = (df["kind"] == kind).to_numpy()
        if m.any():
            ax.scatter(times[m], y.to_numpy()[m], label=f"{kind} ({int(m.sum())})", zorder=3, **style)  # type: ignore[arg-type]
    ax.set_yticks(range(len(order)), [safe_label(n, 50) for n in order])
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.invert_yaxis()
    ax.xaxis_date()
    utc_time_axis(ax)
    ax.grid(axis="x", alpha=0.3)
    suffix = f" (top {len(order)} of {len(order) + dropped})" if dropped else ""
    ax.set_title(title + suffix)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return ax


def hourly_heatmap(
    data: pd.DataFrame,
    *,
    ax: Axes | None = None,
    value: str = "events",
    title: str = "Events per hour of day (UTC) and day",
) -> Axes:
    """Day (rows) x hour of day (columns, UTC) heatmap of ``value``.

    ``data``: :func:`iamforensics.analysis.timeline.hourly_activity` output (day, hour, events).
    """
    ax = axes(ax, (11, 4))
    if data.empty:
        return no_data(ax, title)
    days = pd.date_range(min(data["day"]), max(data["day"]), freq="D").date
    grid = (
        data.pivot_table(index="day", columns="hour", values=value, aggfunc="sum", fill_value=0)
        .reindex(index=days, columns=range(24), fill_value=0)
        .fillna(0)
    )
    img = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    step = max(1, len(days) // 25)
    ax.set_yticks(range(0, len(days), step), [d.isoformat() for d in days[::step]])
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("day (UTC)")
    ax.set_title(title)
    fig = ax.get_figure()
    if fig is not None:
        fig.colorbar(img, ax=ax, label=value)
    return ax


def event_rate(
    data: pd.DataFrame,
    *,
    marks: pd.DataFrame | None = None,
    ax: Axes | None = None,
    max_marks: int = 30,
    title: str = "Event rate",
) -> Axes:
    """Events per bucket (reads, writes, errors stacked) with a vertical line for each mark.

    ``data``: :func:`iamforensics.analysis.timeline.event_rate` output; ``marks``:
    :func:`iamforensics.analysis.timeline.marked_events` output (event_time, event_name).
    """
    ax = axes(ax, (11, 4))
    if data.empty:
        return no_data(ax, title)
    x = mdates.date2num(pd.to_datetime(data["bucket"], utc=True).dt.tz_convert(None).to_numpy())
    width = float(np.median(np.diff(x))) if len(x) > 1 else 1 / 24
    bottom = np.zeros(len(data))
    for col, kind in (("reads", "read"), ("writes", "write"), ("errors", "error")):
        vals = data[col].to_numpy(dtype=float)
        ax.bar(x, vals, width=width, bottom=bottom, align="edge", color=KIND_STYLE[kind]["color"], label=col)
        bottom += vals
    if marks is not None and not marks.empty:
        ms = marks.sort_values("event_time").head(max_marks)
        top = float(bottom.max()) or 1.0
        mx = mdates.date2num(pd.to_datetime(ms["event_time"], utc=True).dt.tz_convert(None).to_numpy())
        for tx in mx:
            ax.axvline(tx, color="#CC79A7", lw=1, ls="--", zorder=4)
        # One label per event name within a bucket ("CreateUser x3"), so bursts stay legible.
        slot = np.floor((mx - x.min()) / width) if width > 0 else np.zeros(len(mx))
        labels = pd.DataFrame({"slot": slot, "x": mx, "name": ms["event_name"].astype(str).to_numpy()})
        groups = (
            labels.groupby(["slot", "name"], sort=False).agg(x=("x", "min"), n=("x", "size")).reset_index()
        )
        for i, (gx, name, n) in enumerate(zip(groups["x"], groups["name"], groups["n"], strict=True)):
            text = safe_label(name, 30) + (f" x{int(n)}" if int(n) > 1 else "")
            ax.text(float(gx), top * (0.95 - 0.08 * (i % 5)), text, rotation=90, fontsize=7,
                    ha="right", va="top", color="#CC79A7")  # fmt: skip
    ax.xaxis_date()
    utc_time_axis(ax)
    ax.set_ylabel("events")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return ax
