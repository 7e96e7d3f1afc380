"""Shared drawing helpers: a fresh Axes when none is given, UTC time axes, empty charts."""

from __future__ import annotations

import datetime as dt

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def axes(ax: Axes | None, figsize: tuple[float, float] = (10, 5)) -> Axes:
    """``ax``, or the Axes of a new figure (never shown)."""
    if ax is not None:
        return ax
    fig, new = plt.subplots(figsize=figsize)
    return new


def utc_time_axis(ax: Axes, label: str = "time (UTC)") -> None:
    """Date ticks formatted in UTC and the axis labelled as UTC."""
    locator = mdates.AutoDateLocator(tz=dt.UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=dt.UTC))
    ax.set_xlabel(label)


def no_data(ax: Axes, title: str) -> Axes:
    """Mark an empty chart instead of failing on an empty frame."""
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
