"""Benchmark: building the STS sessions of a large case (``python -m bench.sessions``).

The case is made from the sample scenario (data/samples, ingested once): its events are
copied N times, each copy shifted by 4 hours, straight into the case layout with DuckDB, so a
10M-event case does not take an ingest run. Each copy gets its own temporary keys (a tag
after ``ASIA`` in ``userIdentity.accessKeyId`` and in ``credentials.accessKeyId``), its own
``sharedEventID`` and shifted ``creationDate``, so the copies are distinct sessions that link
the way the originals do (exact keys, console and Identity Center fallbacks, cross-account
copies); long-term keys (``AKIA``) stay, as a user's key does for months. ``expiration`` is
renamed in the copies (it would not shift), so expirations come from ``durationSeconds``.

The measurement runs in a fresh process: seconds and peak RSS (VmHWM) of building the
sessions (cold, nothing cached), then of reading them back from ``CASE/derived``, of
attributing every event (a count over ``attribute``), of ``flags`` and of one ``trace``.

Examples
--------
    python -m bench.sessions --events 2000000
    python -m bench.sessions --events 10000000 --case bench/out/sessions-case --reuse
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def build_case(target: Path, events: int, chunk_events: int = 400_000) -> dict[str, float]:
    """A case of about ``events`` events made of 4-hour-shifted copies of the sample scenario."""
    import duckdb

    from iamforensics.case import open_case
    from iamforensics.ingest import ingest
    from iamforensics.store import init_case, load_manifest, save_manifest

    t0 = time.perf_counter()
    seed_dir = Path(tempfile.mkdtemp(prefix="sessions-seed-"))
    ingest([str(ROOT / "data" / "samples" / "AWSLogs")], seed_dir / "case", jobs=1)
    n_seed = len(open_case(seed_dir / "case"))
    copies = max(1, -(-events // n_seed))
    if target.exists():
        shutil.rmtree(target)
    init_case(target)
    con = duckdb.connect()
    con.execute("SET threads=2")
    con.execute("SET memory_limit='3GB'")
    con.execute("SET preserve_insertion_order=false")
    # Our own temp and output paths, not evidence: quoted for SQL (COPY takes no parameters).
    seed = str(seed_dir / "case" / "events" / "event_date=*" / "*.parquet").replace("'", "''")
    con.execute(
        f"CREATE TABLE seed AS SELECT * EXCLUDE (event_date) FROM read_parquet('{seed}', hive_partitioning=true)"
    )
    out = str(target / "events").replace("'", "''")
    tag = "'ASIA' || 'K' || CAST(k AS VARCHAR) || 'Q'"
    step = max(1, chunk_events // n_seed)
    for first in range(0, copies, step):
        con.execute(
            "COPY (SELECT * REPLACE ("
            "event_id || '-c' || CAST(k AS VARCHAR) AS event_id, "
            "event_time + to_hours(4 * k) AS event_time, "
            "session_creation_date + to_hours(4 * k) AS session_creation_date, "
            "shared_event_id || '-c' || CAST(k AS VARCHAR) AS shared_event_id, "
            f"CASE WHEN starts_with(access_key_id, 'ASIA') THEN {tag} || substr(access_key_id, 5) "
            "ELSE access_key_id END AS access_key_id, "
            'replace(replace(response_elements, \'"accessKeyId":"ASIA\', \'"accessKeyId":"\' || '
            f"{tag}), '\"expiration\":', '\"expirationInCopy\":') AS response_elements), "
            "CAST(event_time + to_hours(4 * k) AS DATE) AS event_date "
            f"FROM seed, range(CAST(? AS BIGINT), CAST(? AS BIGINT)) r(k)) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date), APPEND true, "
            "FILENAME_PATTERN 'part_{uuid}')",
            [first, min(copies, first + step)],
        )
    con.close()
    shutil.rmtree(seed_dir)
    manifest = load_manifest(target)  # one synthetic run: the sessions cache is keyed by it
    manifest["runs"] = [{"run_id": f"bench-{events}-{copies}", "counts": {"written": n_seed * copies}}]
    save_manifest(target, manifest)
    return {
        "seed_events": float(n_seed),
        "copies": float(copies),
        "build_case_seconds": time.perf_counter() - t0,
    }


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(case_dir: Path) -> dict[str, Any]:
    """Cold build, cached read, whole-case attribution, flags and a trace, in this process."""
    from iamforensics.analysis import sessions as st
    from iamforensics.case import open_case

    shutil.rmtree(case_dir / "derived" / "sessions", ignore_errors=True)
    out: dict[str, Any] = {}
    case = open_case(case_dir)
    out["events"] = len(case)
    t0 = time.perf_counter()
    sess = st.sessions(case)
    out["build_seconds"] = round(time.perf_counter() - t0, 1)
    out["build_peak_rss_mb"] = round(peak_rss_mb())
    out["sessions"] = len(sess)
    out["kinds"] = {str(k): int(n) for k, n in sess["kind"].value_counts().items()}
    out["cache_mb"] = round(sum(p.stat().st_size for p in (case_dir / "derived").rglob("*")) / 2**20, 1)
    case.close()
    case = open_case(case_dir)
    t0 = time.perf_counter()
    st.sessions(case)
    out["cached_read_seconds"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    att = case.sql(
        "SELECT attribution, count(*) AS n FROM ("
        + st.table.attribution_query("attribution")
        + ") GROUP BY 1"
    )
    out["attribute_all_seconds"] = round(time.perf_counter() - t0, 1)
    out["attribution"] = dict(zip(att["attribution"], att["n"].astype(int), strict=True))
    t0 = time.perf_counter()
    flags = st.flags(case)
    out["flags_seconds"] = round(time.perf_counter() - t0, 1)
    out["flags"] = {f"{a}/{b}": int(n) for (a, b), n in flags.groupby(["flag", "severity"]).size().items()}
    key = "AKIALXRK7KTX2MSKAWTN"  # the sample scenario's leaked key, in every copy
    t0 = time.perf_counter()
    tree = st.trace(case, access_key_id=key, with_flags=False)
    out["trace_seconds"] = round(time.perf_counter() - t0, 1)
    out["trace_nodes"] = len(tree)
    out["peak_rss_mb"] = round(peak_rss_mb())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--case", default=str(ROOT / "bench" / "out" / "sessions-case"))
    p.add_argument("--reuse", action="store_true", help="reuse an existing case")
    p.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    target = Path(args.case)
    if args.measure_only:
        print(json.dumps(measure(target)))
        return
    info: dict[str, Any] = {}
    if not (args.reuse and (target / "events").exists()):
        info = build_case(target, args.events)
    size = sum(f.stat().st_size for f in (target / "events").rglob("*.parquet"))
    # a fresh process, so the peak RSS is the sessions' and not the case builder's
    run = subprocess.run(
        [sys.executable, "-m", "bench.sessions", "--case", str(target), "--measure-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps({"parquet_mb": round(size / 2**20, 1), **info, **result}, indent=2))


if __name__ == "__main__":
    main()
