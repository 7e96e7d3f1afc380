"""Investigation analyses: one module per forensic question.

Each function takes a :class:`~iamforensics.case.Case` (the aggregation runs in DuckDB over
the Parquet case, so a 10-million-event case never has to fit in pandas) or a pandas
DataFrame of events (the same SQL runs on the frame), plus keyword options, and returns a
DataFrame. Charts for their results are in :mod:`iamforensics.plots`.

* :mod:`.timeline`: timeline, actor_summary, what_changed, hourly_activity, event_rate,
  marked_events
* :mod:`.api_calls`: histogram, denied_bursts, first_seen_apis, rare_apis
* :mod:`.mfa`: sign_ins, sign_in_outcomes, actions_without_mfa, sessions_without_mfa,
  mfa_coverage, mfa_device_changes, root_activity
* :mod:`.source_ips`: classify, ip_summary, actor_ips, ip_actor_matrix, geo_summary,
  new_for_actor, impossible_travel, instance_credential_use
* :mod:`.geo`: GeoLookup (offline country / ASN: bundled geoip2fast or MaxMind .mmdb), enrich
* :mod:`.cli`: ``iamforensics analyze QUESTION --case DIR``

Examples
--------
>>> from iamforensics.analysis import timeline, api_calls, mfa, source_ips
>>> sorted(api_calls.GROUPS)[:3]
['access_key_id', 'account', 'actor']
"""

from __future__ import annotations

from . import api_calls, geo, mfa, source_ips, timeline

__all__ = ["api_calls", "geo", "mfa", "source_ips", "timeline"]
