"""Labels from evidence that cannot break a chart.

Every string in a CloudTrail record is attacker-controlled. A ``$`` pair would switch
matplotlib into mathtext (a crafted user agent can make drawing raise), newlines and
control characters distort the layout, and 1 KB user agents swamp an axis.

Examples
--------
>>> safe_label("line1\\nline2\\x00")
'line1 line2'
>>> len(safe_label("x" * 1024))
60
"""

from __future__ import annotations

import re

import matplotlib as mpl

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
ELLIPSIS = "…"


def safe_label(value: object, max_len: int = 60) -> str:
    """``value`` as a label: control characters become spaces, ``$`` cannot start mathtext,
    at most ``max_len`` characters (an ellipsis marks a cut); None and NaN give ``"(none)"``.

    ``$`` is escaped as ``\\$`` while mathtext is on (``text.parse_math``, matplotlib's
    default); under a style that turns it off (the report house style) the text is drawn as
    is, so no stray backslash shows.
    """
    if value is None or (isinstance(value, float) and value != value):
        return "(none)"
    s = _CONTROL.sub(" ", str(value)).strip()
    s = re.sub(r"\s{2,}", " ", s)
    if max_len > 0 and len(s) > max_len:
        s = s[: max(1, max_len - 1)].rstrip() + ELLIPSIS
    if mpl.rcParams.get("text.parse_math", True):
        s = s.replace("$", r"\$")
    return s
