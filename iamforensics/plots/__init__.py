"""Charts of the analyses' results: one function per chart, ``(data, *, ax=None, ...) -> Axes``.

``data`` is the DataFrame an analysis returned (see :mod:`iamforensics.analysis`). No
function shows or prints; each draws on ``ax`` (a new figure when None) and returns it.
Text from records is attacker-controlled: every label goes through :func:`safe_label`.
Time axes are UTC and say so. No global style is set here (see :mod:`iamforensics.report`).

Modules (one per analysis module of :mod:`iamforensics.analysis`): :mod:`.timeline`,
:mod:`.api_calls`, :mod:`.mfa`, :mod:`.source_ips`, :mod:`.sessions` (session tree and
session timeline, for :mod:`iamforensics.analysis.sessions`).

Examples
--------
>>> from iamforensics.plots import safe_label
>>> safe_label("cost: $5")
'cost: \\\\$5'
"""

from __future__ import annotations

from . import api_calls, mfa, sessions, source_ips, timeline
from ._text import safe_label

__all__ = ["api_calls", "mfa", "safe_label", "sessions", "source_ips", "timeline"]
