"""Run the build over a Case or a frame, and cache its results under ``CASE/derived/sessions``.

The cache key is the case's content (the manifest's ingest runs and the event files' names and
sizes) plus :data:`~.build.ALGORITHM_VERSION`, so a new ingest or a new algorithm rebuilds it.
Files: ``sessions.parquet`` (one row per session) and the event -> session attribution as three
maps, ``keys.parquet`` (temporary key -> session), ``profiles.parquet`` (keyless profile:
account, principal, session name, creationDate -> session) and ``partners.parquet``
(sharedEventID -> the caller's copy's session, for the role owner's copy), each row with the
origin and chain depth it gives. Applying them is a hash join over the events (see
:func:`attribution_query`), a thousandth of the size of one row per event;
:func:`export_attribution` writes that per-event table for Spark, Athena or anyone joining
without this package.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...case import Case
from ...errors import QueryError
from ...schema import SCHEMA_VERSION
from ...store import DERIVED, event_files
from .._base import EventSource, source
from . import _sql, steps
from .build import ALGORITHM_VERSION, BUILD_MEMORY, LIST_CAP, SESSION_COLUMNS, drop_steps, rows, run_steps
from .link import chained_nodes, mfa, walk

KEYS, PROFILES, PARTNERS = "_ifx_sess_keys", "_ifx_sess_profiles", "_ifx_sess_partners"
#: The sessions table itself, joinable in SQL (flags, trace).
SESSIONS = "_ifx_sess_table"
FOLDER = "sessions"

_MAP_FIELDS = [
    pa.field("session_id", pa.string()),
    pa.field("attribution", pa.string()),
    pa.field("candidates", pa.list_(pa.string())),
    pa.field("origin", pa.string()),
    pa.field("origin_kind", pa.string()),
    pa.field("origin_key", pa.string()),
    pa.field("chain_depth", pa.int64()),
]
KEYS_SCHEMA = pa.schema([pa.field("key", pa.string()), *_MAP_FIELDS])
PROFILES_SCHEMA = pa.schema(
    [
        pa.field("p_account", pa.string()),
        pa.field("p_principal", pa.string()),
        pa.field("p_session", pa.string()),
        pa.field("p_created", pa.timestamp("us", tz="UTC")),
        *_MAP_FIELDS,
    ]
)
PARTNERS_SCHEMA = pa.schema(
    [pa.field("shared_event_id", pa.string()), pa.field("recipient_account_id", pa.string()), *_MAP_FIELDS]
)
_LIST_COLUMNS = (
    "issuing_event_ids",
    "keys_used",
    "parent_candidates",
    "chain_accounts",
    "ips",
    "user_agents",
    "regions",
)
_TIME_COLUMNS = ("issued_at", "expiration", "first_use", "last_use")


@dataclass
class Built:
    """Sessions and the attribution maps of one case (or frame)."""

    sessions: pd.DataFrame
    keys: pa.Table
    profiles: pa.Table
    partners: pa.Table
    fingerprint: str | None = None
    folder: Path | None = None
    arrow: pa.Table | None = None  # the sessions as built, written to the cache as is


_MEMO: weakref.WeakKeyDictionary[Case, Built] = weakref.WeakKeyDictionary()


def register(src: EventSource, built: Built) -> None:
    """Make the maps joinable in ``src``'s connection under fixed names."""
    con = src.connection()
    con.register(KEYS, built.keys)
    con.register(PROFILES, built.profiles)
    con.register(PARTNERS, built.partners)
    if built.arrow is not None:
        con.register(SESSIONS, built.arrow)


def attribution_query(select: str = "e.*", source: str = "events") -> str:
    """SQL for every event with its session columns (after :func:`register`); ``source`` is a
    fixed relation over ``events`` (no record values in it)."""
    return _sql.attribution_sql(KEYS, PROFILES, PARTNERS, select, source)


# -- building -----------------------------------------------------------------------------------


def _map_sql(res: str, keys: tuple[str, ...]) -> str:
    """A map (keys or profiles) with the origin of each row: its session's, or for an ambiguous
    row the candidates' common origin when they agree (every candidate leads there: not a
    guess), else all of them."""
    cols = ", ".join(keys)
    on = " AND ".join(f"ag.{k} IS NOT DISTINCT FROM r.{k}" for k in keys)
    return f"""
WITH a AS (SELECT {cols}, unnest(candidates) AS c FROM {res} WHERE attribution = 'ambiguous'),
ag AS (
    SELECT {", ".join("a." + k for k in keys)}, count(DISTINCT w.origin) AS n_o, min(w.origin) AS o1,
        min(w.origin_kind) AS k1,
        CASE WHEN count(DISTINCT coalesce(w.origin_key, chr(0))) = 1 THEN min(w.origin_key) END AS key1,
        CASE WHEN count(DISTINCT coalesce(w.chain_depth, -1)) = 1 THEN min(w.chain_depth) END AS d1,
        list(DISTINCT w.origin ORDER BY w.origin) FILTER (WHERE w.origin IS NOT NULL) AS os
    FROM a LEFT JOIN _s_walk w ON w.session_id = a.c GROUP BY ALL
)
SELECT {", ".join("r." + k for k in keys)}, r.session_id, r.attribution, r.candidates,
    CASE WHEN r.session_id IS NOT NULL THEN w.origin WHEN ag.n_o = 1 THEN ag.o1
         WHEN ag.n_o > 1 THEN 'ambiguous: ' || array_to_string(ag.os, ' | ') END AS origin,
    CASE WHEN r.session_id IS NOT NULL THEN w.origin_kind WHEN ag.n_o = 1 THEN ag.k1 ELSE 'ambiguous' END
        AS origin_kind,
    CASE WHEN r.session_id IS NOT NULL THEN w.origin_key WHEN ag.n_o = 1 THEN ag.key1 END AS origin_key,
    CASE WHEN r.session_id IS NOT NULL THEN w.chain_depth WHEN ag.n_o = 1 THEN ag.d1 END AS chain_depth
FROM {res} r LEFT JOIN _s_walk w ON w.session_id = r.session_id LEFT JOIN ag ON {on}
"""


_WALK_SCHEMA = pa.schema(
    [
        pa.field("session_id", pa.string()),
        pa.field("origin", pa.string()),
        pa.field("origin_kind", pa.string()),
        pa.field("origin_key", pa.string()),
        pa.field("chain_depth", pa.int64()),
        pa.field("chain_accounts", pa.list_(pa.string())),
        pa.field("mfa_at_issue", pa.bool_()),
    ]
)


def build(events: Case | pd.DataFrame | EventSource) -> Built:
    """Build sessions and maps from scratch (no cache)."""
    src = source(events)
    con = src.connection()
    restore = limit_memory(con)
    try:
        run_steps(con)
        # only sessions issued by another session need the walk; the rest was resolved in SQL
        chained = rows(con, steps.CHAINED)
        parents = rows(con, steps.CHAINED_PARENTS)
        nodes, accounts = chained_nodes(chained)
        seeds = {
            r["session_id"]: (
                r["origin"],
                r["origin_kind"],
                r["origin_key"],
                r["chain_depth"],
                r["chain_accounts"],
            )
            for r in parents
        }
        origins = walk(nodes, accounts, seeds)
        mfa_of = mfa(chained, nodes, {r["session_id"]: r["mfa_at_issue"] for r in parents})
        sids = list(origins)
        walked = pa.table(
            {
                "session_id": pa.array(sids, pa.string()),
                "origin": pa.array([origins[s][0] for s in sids], pa.string()),
                "origin_kind": pa.array([origins[s][1] for s in sids], pa.string()),
                "origin_key": pa.array([origins[s][2] for s in sids], pa.string()),
                "chain_depth": pa.array([origins[s][3] for s in sids], pa.int64()),
                "chain_accounts": pa.array([origins[s][4] for s in sids], pa.list_(pa.string())),
                "mfa_at_issue": pa.array([mfa_of.get(s) for s in sids], pa.bool_()),
            },
            schema=_WALK_SCHEMA,
        )
        con.register("_s_walk_in", walked)
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _s_walk AS SELECT * FROM _s_roots UNION ALL BY NAME SELECT * FROM _s_walk_in"
            )
        finally:
            con.unregister("_s_walk_in")
        keys = con.sql(_map_sql("_s_keyres", ("key",))).to_arrow_table().cast(KEYS_SCHEMA)
        profiles = (
            con.sql(_map_sql("_s_profres", ("p_account", "p_principal", "p_session", "p_created")))
            .to_arrow_table()
            .cast(PROFILES_SCHEMA)
        )
        built = Built(pd.DataFrame(), keys, profiles, PARTNERS_SCHEMA.empty_table())
        register(src, built)
        built.partners = _partners(src)
        register(src, built)
        built.arrow = _assemble(src)
        register(src, built)
    finally:
        drop_steps(con)
        restore()
    built.sessions = _finish(_frame(built.arrow))
    return built


def limit_memory(con: Any) -> Callable[[], None]:
    """Cap DuckDB's memory for whole-case work (it spills to a temporary folder past
    :data:`~.build.BUILD_MEMORY`); returns the undo, which restores the connection's settings."""
    try:
        old_mem, old_tmp = con.sql(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]
    except duckdb.Error:
        return lambda: None
    spill = Path(tempfile.gettempdir()) / "iamforensics-spill"
    for setting in (
        f"SET memory_limit='{BUILD_MEMORY}'",
        "SET temp_directory='{}'".format(str(spill).replace("'", "''")),
    ):
        try:
            con.execute(setting)
        except duckdb.Error:  # a folder already in use cannot change; the limit still holds
            pass

    def restore() -> None:
        for name, value in (("memory_limit", old_mem), ("temp_directory", old_tmp)):
            try:
                con.execute(f"SET {name}='{str(value).replace(chr(39), chr(39) * 2)}'")
            except duckdb.Error:
                pass

    return restore


def _partners(src: EventSource) -> pa.Table:
    """Attribution of the caller's copy of each cross-account event, by sharedEventID."""
    shared = (
        "(SELECT * FROM events WHERE shared_event_id IN (SELECT shared_event_id FROM events "
        "WHERE user_type = 'AWSAccount' AND shared_event_id IS NOT NULL))"
    )
    q = attribution_query(
        "shared_event_id, recipient_account_id, event_id, user_type, session_id, attribution, candidates, "
        "origin, origin_kind, origin_key, chain_depth",
        source=shared,
    )
    return (
        src.connection()
        .sql(
            f"""
        WITH a AS ({q})
        SELECT * EXCLUDE (event_id, user_type, rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY shared_event_id ORDER BY event_id) AS rn FROM a
            WHERE user_type IS DISTINCT FROM 'AWSAccount' AND origin IS NOT NULL
        ) WHERE rn = 1
        """
        )
        .to_arrow_table()
        .cast(PARTNERS_SCHEMA)
    )


def _assemble(src: EventSource) -> pa.Table:
    """The sessions table: issuance or observed identity, the walk, and each session's use
    (first/last use, counts, IPs, user agents, regions) from its attributed events."""
    empty = "[]::VARCHAR[]"
    tbl = (
        src.connection()
        .sql(
            f"""
        WITH st AS ({steps.stats(LIST_CAP)}),
        f AS ({steps.FAILED})
        SELECT n.session_id, n.kind, n.observed_only, i.issuing_event_id,
            coalesce(i.issuing_event_ids, {empty}) AS issuing_event_ids, i.issuing_event_name,
            coalesce(i.issued_at, o.issued_at) AS issued_at, i.expiration, i.expiration_source,
            coalesce(i.access_key_id, o.access_key_id) AS access_key_id, coalesce(st.keys_used, {empty}) AS keys_used,
            n.account_id, coalesce(i.role_arn, o.role_arn) AS role_arn,
            coalesce(i.principal_arn, o.principal_arn) AS principal_arn,
            coalesce(i.session_name, o.session_name) AS session_name,
            coalesce(i.source_identity, o.source_identity) AS source_identity, w.mfa_at_issue,
            i.issuer_actor, i.issuer_key, i.issuer_type, i.issuer_ip,
            CASE WHEN n.link IN ('exact-key', 'fallback') THEN n.parent_session_id END AS parent_session_id,
            n.link AS parent_link,
            CASE WHEN n.link = 'ambiguous' THEN coalesce(n.parent_candidates, {empty}) ELSE {empty} END
                AS parent_candidates,
            w.origin, w.origin_kind, w.origin_key, w.chain_depth, w.chain_accounts,
            len(list_distinct(w.chain_accounts)) > 1 AS crosses_accounts,
            st.first_use, st.last_use, coalesce(st.events, 0) AS events, coalesce(st.errors, 0) AS errors,
            coalesce(st.ips, {empty}) AS ips, coalesce(st.ip_count, 0) AS ip_count,
            coalesce(st.user_agents, {empty}) AS user_agents, coalesce(st.user_agent_count, 0) AS user_agent_count,
            coalesce(st.regions, {empty}) AS regions, coalesce(f.n, 0) AS failed_issues
        FROM _s_nodes n LEFT JOIN _s_issued i USING (session_id) LEFT JOIN _s_obs o USING (session_id)
        LEFT JOIN _s_walk w USING (session_id) LEFT JOIN st USING (session_id) LEFT JOIN f USING (session_id)
        ORDER BY coalesce(i.issued_at, o.issued_at, st.first_use) NULLS LAST, n.session_id
        """
        )
        .to_arrow_table()
    )
    return tbl


def _frame(tbl: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with lists as Python lists (Arrow converts them fastest itself)."""
    lists = [c for c in tbl.column_names if pa.types.is_list(tbl.schema.field(c).type)]
    df = tbl.drop_columns(lists).to_pandas()
    for c in lists:
        df[c] = [v if v is not None else [] for v in tbl.column(c).to_pylist()]
    return df.reindex(columns=list(SESSION_COLUMNS))


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    """Column types: UTC times, nullable ints and booleans; sorted by issue (or first use) time."""
    for c in _TIME_COLUMNS:
        df[c] = pd.to_datetime(df[c], utc=True)
    df["chain_depth"] = df["chain_depth"].astype("Int64")
    for c in ("events", "errors", "ip_count", "user_agent_count", "failed_issues"):
        df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    df["mfa_at_issue"] = df["mfa_at_issue"].astype("boolean")
    for c in ("observed_only", "crosses_accounts"):
        df[c] = df[c].fillna(False).astype(bool)
    order = df["issued_at"].fillna(df["first_use"])
    df = df.assign(_o=order).sort_values(["_o", "session_id"], kind="stable", na_position="last")
    return df.drop(columns="_o").reset_index(drop=True)


# -- the cache ------------------------------------------------------------------------------------


def fingerprint(case: Case) -> str:
    """Content key of a case: its ingest runs and event files (name and size), and the algorithm."""
    runs = [r.get("run_id") for r in case.manifest.get("runs", [])]
    files = [(str(p.relative_to(case.path)), p.stat().st_size) for p in event_files(case.path)]
    text = json.dumps({"v": ALGORITHM_VERSION, "schema": SCHEMA_VERSION, "runs": runs, "files": files})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _write(case: Case, built: Built, fp: str) -> Path | None:
    """Write the cache atomically (a finished folder appears at once); None if not writable."""
    root = case.path / DERIVED / FOLDER
    final = root / fp
    tmp = root / f".{fp}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.mkdir(parents=True, exist_ok=False)
        sess = (
            built.arrow
            if built.arrow is not None
            else pa.Table.from_pandas(built.sessions, preserve_index=False)
        )
        pq.write_table(sess, tmp / "sessions.parquet")
        pq.write_table(built.keys, tmp / "keys.parquet")
        pq.write_table(built.profiles, tmp / "profiles.parquet")
        pq.write_table(built.partners, tmp / "partners.parquet")
        (tmp / "meta.json").write_text(
            json.dumps({"fingerprint": fp, "algorithm": ALGORITHM_VERSION, "sessions": sess.num_rows})
        )
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
        for old in root.iterdir():
            if old.name != fp and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        return final
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None


def _read(folder: Path, fp: str) -> Built | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("fingerprint") != fp or meta.get("algorithm") != ALGORITHM_VERSION:
            return None
        arrow = pq.read_table(folder / "sessions.parquet")
        keys = pq.read_table(folder / "keys.parquet", schema=KEYS_SCHEMA)
        profiles = pq.read_table(folder / "profiles.parquet", schema=PROFILES_SCHEMA)
        partners = pq.read_table(folder / "partners.parquet", schema=PARTNERS_SCHEMA)
    except (OSError, ValueError, pa.ArrowException):
        return None
    return Built(_finish(_frame(arrow)), keys, profiles, partners, fp, folder, arrow)


def get(events: Case | pd.DataFrame | EventSource, *, rebuild: bool = False) -> tuple[EventSource, Built]:
    """The source and its sessions: from memory, the case's cache, or built (and cached)."""
    src = source(events)
    case = src.case
    if case is None:
        built = build(src)
        return src, built
    fp = fingerprint(case)
    memo = _MEMO.get(case)
    if memo is not None and memo.fingerprint == fp and not rebuild:
        register(src, memo)
        return src, memo
    folder = case.path / DERIVED / FOLDER / fp
    cached = None if rebuild else _read(folder, fp)
    if cached is None:
        built = build(src)
        built.fingerprint = fp
        built.folder = _write(case, built, fp)
        cached = built
    register(src, cached)
    _MEMO[case] = cached
    return src, cached


def export_attribution(events: Case | pd.DataFrame | EventSource, path: str | Path) -> Path:
    """Write every event id with its session columns to one Parquet file (zstd).

    Examples
    --------
    >>> export_attribution(case, "out/attribution.parquet")  # doctest: +SKIP
    """
    src, _ = get(events)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    select = "event_id, event_time, session_id, attribution, candidates, origin, origin_kind, origin_key, chain_depth"
    # The path is the caller's own output path, not evidence; still quoted for SQL.
    quoted = str(target).replace("'", "''")
    try:
        src.connection().execute(
            f"COPY ({attribution_query(select)}) TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)"
        )
    except duckdb.Error as exc:
        raise QueryError(f"could not write {target}: {exc}") from None
    return target


def require_columns(df: pd.DataFrame, cols: tuple[str, ...]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise QueryError(f"missing column(s): {', '.join(missing)}")
