"""The case overview: what `iamforensics info` prints and notebook 00 shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .case import Case


def case_info(case: Case, *, top: int = 10) -> dict[str, Any]:
    """Counts, time range, accounts, regions, identity types, top event names, duplicates, quarantine.

    Examples
    --------
    >>> case_info(open_case("out/case"))["events"]  # doctest: +SKIP
    """
    m = case.manifest
    runs = m.get("runs", [])
    q: dict[str, int] = {}
    for run in runs:
        for k, v in run.get("quarantine_reasons", {}).items():
            q[k] = q.get(k, 0) + v
    base = case.sql(
        "SELECT count(*) AS events, min(event_time) AS first, max(event_time) AS last, "
        "count(DISTINCT actor) AS actors FROM events"
    ).iloc[0]

    def counts(col: str, limit: int | None = top) -> dict[str, int]:
        # col is one of this module's own column names, never a value from the evidence.
        df = case.sql(
            f"SELECT coalesce(CAST({col} AS VARCHAR), '(none)') AS k, count(*) AS n FROM events "
            f"GROUP BY 1 ORDER BY n DESC, k" + ("" if limit is None else f" LIMIT {int(limit)}")
        )
        return dict(zip(df["k"], df["n"].astype(int), strict=True))

    return {
        "case": str(case.path),
        "schema_version": m.get("schema_version"),
        "tool_version": m.get("tool_version"),
        "ingest_runs": len(runs),
        "events": int(base["events"]),
        "first_event": None if base["events"] == 0 else str(base["first"]),
        "last_event": None if base["events"] == 0 else str(base["last"]),
        "actors": int(base["actors"]),
        "accounts": counts("recipient_account_id"),
        "regions": counts("aws_region"),
        # All of them: a dozen kinds at most, and the rare ones (Role, Directory, a
        # single FederatedUser) are the ones an investigator must not miss.
        "identity_types": counts("user_type", None),
        "top_event_names": counts("event_name"),
        "read": sum(r["counts"]["read"] for r in runs),
        "duplicates": sum(r["counts"]["duplicates"] for r in runs),
        "quarantined": sum(r["counts"]["quarantined"] for r in runs),
        "quarantine_reasons": q,
        "digests": sorted({d for r in runs for d in r.get("digests", [])}),
    }


def format_info(info: dict[str, Any]) -> str:
    """The overview as the plain text the CLI prints."""
    lines = [
        f"case        {info['case']}  (schema v{info['schema_version']}, iamforensics {info['tool_version']})",
        f"events      {info['events']:,}  from {info['first_event']} to {info['last_event']}",
        f"actors      {info['actors']:,}",
        f"ingests     {info['ingest_runs']}  read {info['read']:,}  duplicates {info['duplicates']:,}"
        f"  quarantined {info['quarantined']:,}  digests {len(info['digests'])}",
    ]
    for title, key in (
        ("accounts", "accounts"),
        ("regions", "regions"),
        ("identity types", "identity_types"),
        ("top event names", "top_event_names"),
        ("quarantine by reason", "quarantine_reasons"),
    ):
        items = info[key]
        if not items:
            continue
        lines.append(f"{title}:")
        for k, v in sorted(items.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {v:>9,}  {k}")
    return "\n".join(lines)
