"""Charts of the analyses' results: one function per chart, ``(data, *, ax=None, ...) -> Axes``.

``data`` is the DataFrame an analysis returned (see :mod:`iamforensics.analysis`). No
function shows or prints; each draws on ``ax`` (a new figure when None) and returns it.
Text from records is attacker-controlled: every label goes through :func:`safe_label`.
Time axes are UTC and say so. No global style is set here (see :mod:`iamforensics.report`).

Modules: :mod:`.timeline`, :mod:`.api_calls`, :mod:`.mfa`, :mod:`.source_ips`.

Examples
--------
>>> from iamforensics.plots import safe_label
>>> safe_label("cost: $5")
'cost: \\\\$5'
"""

from __future__ import annotations

from ._text import safe_label

__all__ = ["safe_label"]
