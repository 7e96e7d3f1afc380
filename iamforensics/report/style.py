"""The one house style of every chart, and the caption line that names case and window.

Examples
--------
>>> import matplotlib.pyplot as plt
>>> with house_style():
...     fig, ax = plt.subplots()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE = Path(__file__).with_name("iamforensics.mplstyle")
#: Okabe-Ito, safe for the common forms of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


@contextlib.contextmanager
def house_style() -> Iterator[None]:
    """Context in which new figures use the house style (mathtext off: labels are data)."""
    with plt.style.context(str(STYLE)):
        yield


def use_house_style() -> None:
    """Make the house style the default for this process (notebooks call this once)."""
    plt.style.use(str(STYLE))


def plain(text: object, max_len: int = 120, *, parse_math: bool | None = None) -> str:
    """Text from evidence made safe for a label: no mathtext, no newlines, bounded length.

    ``$`` is escaped only when the text it goes into parses mathtext (``parse_math``, by
    default ``rcParams["text.parse_math"]`` now, i.e. off under the house style); escaping
    it for a text drawn with mathtext off would show a stray backslash.

    Examples
    --------
    >>> plain("cost $5\\n", parse_math=False)
    'cost $5 '
    >>> plain("$x^2$", parse_math=True) == "\\\\$x^2\\\\$"
    True
    """
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    if len(s) > max_len:
        s = s[: max_len - 1] + "…"
    math = mpl.rcParams["text.parse_math"] if parse_math is None else parse_math
    return s.replace("$", r"\$") if math else s


def caption(fig_or_ax: Figure | Axes, case_name: str, window: str | None = None, note: str = "") -> None:
    """Add the caption line: case name, time window (UTC) and an optional note."""
    fig = fig_or_ax.get_figure(root=True) if isinstance(fig_or_ax, Axes) else fig_or_ax
    if fig is None:
        return
    parts = [f"case: {case_name}", f"window: {window or 'whole case'} (UTC)"]
    if note:
        parts.append(note)
    fig.text(
        0.01,
        0.005,
        # Drawn with mathtext off whatever the style, so the text is not escaped either.
        plain("  |  ".join(parts), 200, parse_math=False),
        ha="left",
        va="bottom",
        fontsize=8,
        color="#555555",
        parse_math=False,
    )


def utc_axis(ax: Axes, axis: str = "x") -> None:
    """Label a time axis as UTC."""
    if axis == "x":
        ax.set_xlabel((ax.get_xlabel() + " " if ax.get_xlabel() else "time ") + "(UTC)")
    else:
        ax.set_ylabel((ax.get_ylabel() + " " if ax.get_ylabel() else "time ") + "(UTC)")


def rc_is_house() -> bool:
    return bool(mpl.rcParams["axes.prop_cycle"].by_key()["color"][0].lower() == PALETTE[0].lower())
