"""Source-IP charts: top addresses, the address x actor matrix, countries and ASNs.

Examples
--------
>>> from iamforensics.analysis import source_ips as si
>>> top_ips(si.ip_summary(case))  # doctest: +SKIP
>>> ip_actor_matrix(si.ip_actor_matrix(case))  # doctest: +SKIP
>>> geo_bars(si.geo_summary(case, by="country"))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from ._axes import axes, no_data
from ._text import safe_label

#: Colour per address class.
CLASS_COLORS: dict[str, str] = {
    "public": "#0072B2",
    "ipv6": "#56B4E9",
    "private": "#009E73",
    "aws-service": "#999999",
    "aws-internal": "#BBBBBB",
    "invalid": "#D55E00",
}


def top_ips(
    data: pd.DataFrame, *, ax: Axes | None = None, top: int = 20, title: str = "Top source addresses"
) -> Axes:
    """Horizontal bars of events per address (coloured by class), labelled with the country
    and ASN when known.

    ``data``: :func:`iamforensics.analysis.source_ips.ip_summary` output.
    """
    d = data.head(top)
    ax = axes(ax, (10, 0.8 + 0.32 * max(1, len(d))))
    if d.empty:
        return no_data(ax, title)
    y = np.arange(len(d))
    classes = d["ip_class"].fillna("unknown").astype(str)
    ax.barh(
        y,
        d["events"].to_numpy(dtype=float),
        color=[CLASS_COLORS.get(c, "#CC79A7") for c in classes],
        height=0.7,
    )
    labels = []
    for _, r in d.iterrows():
        extra = " ".join(str(r[c]) for c in ("country_code", "asn_name") if c in d.columns and pd.notna(r[c]))
        labels.append(
            safe_label(r["source_ip_address"], 40) + (f" ({safe_label(extra, 40)})" if extra else "")
        )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("events")
    ax.set_title(title)
    # Legend from patches: empty barh() handles take the cycle's colour, not the class colour.
    handles = [
        Patch(facecolor=CLASS_COLORS.get(cls, "#CC79A7"), label=safe_label(cls))
        for cls in dict.fromkeys(classes)
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    return ax


def ip_actor_matrix(
    data: pd.DataFrame,
    *,
    ax: Axes | None = None,
    annotate: bool = True,
    title: str = "Events per address and actor",
) -> Axes:
    """Heatmap of events per (actor, address): actors as rows (long ARNs stay readable),
    addresses as columns; a cell's number is its event count.

    ``data``: :func:`iamforensics.analysis.source_ips.ip_actor_matrix` output (wide frame,
    addresses as the index, actors as columns).
    """
    m = data.T
    ax = axes(ax, (5 + 0.6 * max(1, m.shape[1]), 1.5 + 0.4 * max(1, m.shape[0])))
    if m.empty or m.shape[1] == 0:
        return no_data(ax, title)
    vals = m.to_numpy(dtype=float)
    img = ax.imshow(np.log1p(vals), aspect="auto", cmap="Blues", interpolation="nearest")
    ax.set_yticks(range(m.shape[0]), [safe_label(i, 50) for i in m.index])
    ax.set_xticks(range(m.shape[1]), [safe_label(c, 40) for c in m.columns], rotation=45, ha="right")
    if annotate and vals.size <= 900:
        hi = np.log1p(vals.max()) if vals.max() > 0 else 1.0
        for (i, j), v in np.ndenumerate(vals):
            if v:
                ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if np.log1p(v) > hi * 0.6 else "black")  # fmt: skip
    ax.set_xlabel("source address")
    ax.set_ylabel("actor")
    ax.set_title(title)
    fig = ax.get_figure()
    if fig is not None:
        fig.colorbar(img, ax=ax, label="log(1 + events)")
    return ax


def geo_bars(
    data: pd.DataFrame,
    *,
    ax: Axes | None = None,
    top: int = 20,
    value: str = "events",
    title: str | None = None,
) -> Axes:
    """Horizontal bars of ``value`` (events, ips or actors) per country or ASN.

    ``data``: :func:`iamforensics.analysis.source_ips.geo_summary` output (key, name, ...).
    """
    d = data.head(top)
    ax = axes(ax, (9, 0.8 + 0.32 * max(1, len(d))))
    title = title or f"{value} per country / ASN"
    if d.empty:
        return no_data(ax, title)
    y = np.arange(len(d))
    ax.barh(y, d[value].to_numpy(dtype=float), color="#0072B2", height=0.7)
    labels = [
        safe_label(k, 40) + (f" ({safe_label(n, 30)})" if pd.notna(n) and str(n) != str(k) else "")
        for k, n in zip(d["key"], d["name"], strict=True)
    ]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel(value)
    ax.set_title(title)
    return ax
