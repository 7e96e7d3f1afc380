"""Scale-out benchmark: real ingest of generated evidence, then queries over the whole case.

``python -m bench.scale --evidence DIR [--out DIR] [--only NAMES]`` where DIR holds evidence
from the samples generator (``iamforensics samples --out DIR --scale K --days D``). Each
measurement runs in its own Python process, started under ``flock /tmp/iamf-bench.lock`` so
only one benchmark uses the shared machine at a time (the wait is not timed). Each prints one
JSON line: wall seconds, CPU seconds (the process and every child it waited for: pool
workers, Dask worker processes), peak RSS of the process (VmHWM) and of its largest child
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``).

Measurements
------------
ingest-1, ingest-2   iamforensics.ingest with --jobs 1 and 2 (fresh case each)
dask-2               iamforensics.ingest_dask on a LocalCluster of 2 worker processes
timeline-*           Case.events(actor=...) over the whole case, timeline columns: the median
                     actor by events, the scenario's leaked-key user, the busiest actor, and
                     the leaked-key user's first day
files-*              Parquet files DuckDB reads for a window / for the whole case (EXPLAIN ANALYZE)
histogram            analysis.api_calls.histogram(by="event_name")
sessions             case.sessions(rebuild=True): STS sessions built from nothing
hunt                 detections.hunt(case), the built-in pack (no Sigma rules)
hunt-sigma           the same plus the shared SigmaHQ CloudTrail rules (../shared/sigma)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = "/tmp/iamf-bench.lock"
INGESTS = ("ingest-1", "ingest-2", "dask-2")
QUERIES = (
    "timeline-median",
    "timeline-leaked",
    "timeline-busiest",
    "timeline-leaked-day",
    "files",
    "histogram",
    "sessions",
    "hunt",
    "hunt-sigma",
)


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_mb": _vm_hwm_mb(),
        "child_rss_mb": kids.ru_maxrss / 1024,
    }


def _size(path: Path, pattern: str) -> int:
    return sum(f.stat().st_size for f in path.rglob(pattern) if f.is_file())


# --- what each child process measures -----------------------------------------------------


def _ingest(name: str, evidence: Path, case: Path) -> dict[str, Any]:
    shutil.rmtree(case, ignore_errors=True)
    if name == "dask-2":
        from iamforensics.ingest_dask import ingest_dask

        run: Callable[[], Any] = lambda: ingest_dask([str(evidence)], case, workers=2)  # noqa: E731
    else:
        from iamforensics.ingest import ingest

        jobs = int(name.split("-")[1])
        run = lambda: ingest([str(evidence)], case, jobs=jobs)  # noqa: E731
    u0, t0 = _usage(), time.perf_counter()
    report = run()
    wall = time.perf_counter() - t0
    u1 = _usage()
    c = report.counts
    return {
        "seconds": wall,
        "cpu_s": u1["cpu_s"] - u0["cpu_s"],
        "read": c["read"],
        "written": c["written"],
        "duplicates": c["duplicates"],
        "quarantined": c["quarantined"],
        "identity_holds": report.identity_holds,
        "records_per_s": c["read"] / wall,
        "records_per_cpu_s": c["read"] / max(u1["cpu_s"] - u0["cpu_s"], 1e-9),
        "evidence_mb": _size(evidence, "*.gz") / 1e6,
        "case_mb": _size(case / "events", "*.parquet") / 1e6,
        "partitions": len(list((case / "events").glob("event_date=*"))),
        "files": len(list((case / "events").rglob("*.parquet"))),
        "rss_mb": u1["rss_mb"],
        "child_rss_mb": u1["child_rss_mb"],
    }


def _leaked_actor(case: Any, evidence: Path) -> str:
    """The actor of the scenario's leaked key (the same at every --scale), from the answer key."""
    from iamforensics.samples import load_answers

    answers = load_answers(evidence.parent if evidence.name == "AWSLogs" else evidence)
    key = answers["leaked_key"]["access_key_id"] if isinstance(answers.get("leaked_key"), dict) else None
    if key:
        got = case.sql("SELECT any_value(actor) a FROM events WHERE access_key_id = ?", [key])["a"].iloc[0]
        if got:
            return str(got)
    raise SystemExit("no leaked key in the answer key")


def _files_read(con: Any, query: str, params: list[Any]) -> int:
    plan = con.execute("EXPLAIN ANALYZE " + query, params).fetchall()[0][1]
    # (files read, files in the dataset); without a file filter DuckDB prints only the read count.
    m = re.search(r"Total Files Read: (\d+)", plan)
    return int(m.group(1)) if m else -1


def _query(name: str, evidence: Path, case_dir: Path) -> dict[str, Any]:
    from iamforensics.case import open_case
    from iamforensics.schema import TIMELINE_COLUMNS

    case = open_case(case_dir)
    extra: dict[str, Any] = {}
    # Picking the actor is set-up, not the measured query.
    if name.startswith("timeline-leaked") or name == "files":
        actor = _leaked_actor(case, evidence)
    elif name == "timeline-busiest":
        actor = str(
            case.sql("SELECT actor, count(*) n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 1")["actor"][0]
        )
    elif name == "timeline-median":
        # A typical principal: the median of events per actor.
        counts = case.sql("SELECT actor, count(*) n FROM events GROUP BY 1 ORDER BY n, actor")
        actor = str(counts["actor"][len(counts) // 2])
    case.close()
    case = open_case(case_dir)
    u0, t0 = _usage(), time.perf_counter()
    if name in ("timeline-leaked", "timeline-busiest", "timeline-median"):
        rows = len(case.events(actor=actor, columns=list(TIMELINE_COLUMNS)))
    elif name == "timeline-leaked-day":
        first = case.sql("SELECT min(event_time) t FROM events WHERE actor = ?", [actor])["t"][0]
        day = first.normalize()
        t0 = time.perf_counter()  # the lookup of the day is not the timeline
        rows = len(case.events(day, day + __import__("pandas").Timedelta(days=1), actor=actor,
                               columns=list(TIMELINE_COLUMNS)))  # fmt: skip
    elif name == "files":
        con = case.connection()
        where, params = case.where(actor=actor)
        whole = _files_read(con, "SELECT event_time, event_name FROM events" + where, params)
        lo = case.sql("SELECT min(event_time) t FROM events")["t"][0].normalize()
        where, params = case.where(lo, lo + __import__("pandas").Timedelta(days=1), actor=actor)
        day = _files_read(con, "SELECT event_time, event_name FROM events" + where, params)
        extra = {"files_whole_case": whole, "files_one_day": day,
                 "files_in_case": len(list((case_dir / "events").rglob("*.parquet")))}  # fmt: skip
        rows = 0
    elif name == "histogram":
        from iamforensics.analysis import api_calls

        rows = len(api_calls.histogram(case, by="event_name"))
    elif name == "sessions":
        rows = len(case.sessions(rebuild=True))
    elif name == "hunt":
        from iamforensics.detections import hunt

        result = hunt(case, sigma=None)
        rows = len(result.findings)
    elif name == "hunt-sigma":
        from iamforensics.detections import hunt

        sigma = Path(os.environ.get("IAMFORENSICS_SHARED", ROOT.parent / "shared")) / "sigma"
        result = hunt(case, sigma=sigma / "rules-cloud-aws-cloudtrail")
        rows = result.total
    else:
        raise SystemExit(f"unknown measurement {name}")
    wall = time.perf_counter() - t0
    u1 = _usage()
    return {"seconds": wall, "cpu_s": u1["cpu_s"] - u0["cpu_s"], "rows": rows, **extra,
            "rss_mb": u1["rss_mb"], "child_rss_mb": u1["child_rss_mb"]}  # fmt: skip


def _child(args: argparse.Namespace) -> None:
    fn = _ingest if args.child in INGESTS else _query
    out = fn(args.child, Path(args.evidence), Path(args.case))
    print(json.dumps({"name": args.child, **out}, default=str))


# --- driver -------------------------------------------------------------------------------


def run(name: str, evidence: Path, case: Path) -> dict[str, Any]:
    """One measurement in a fresh process, under the shared benchmark lock."""
    lock = ["flock", LOCK] if os.environ.get("IAMF_BENCH_NOLOCK") != "1" else []  # smoke runs only
    cmd = [*lock, sys.executable, "-m", "bench.scale", "--child", name,
           "--evidence", str(evidence), "--case", str(case)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"name": name, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evidence", required=True, help="generated evidence (the folder holding AWSLogs/)")
    p.add_argument("--out", default="/tmp/iamf-scale", help="where the cases go (not the repo)")
    p.add_argument("--only", default=None, help="comma-separated measurements (default: all)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    evidence = Path(args.evidence)
    if (evidence / "AWSLogs").is_dir():
        evidence = evidence / "AWSLogs"
    out = Path(args.out)
    names = args.only.split(",") if args.only else [*INGESTS, *QUERIES]
    for name in names:
        # Queries run on the case of the 2-job local ingest (the same rows as the others').
        case = out / (f"case-{name}" if name in INGESTS else "case-ingest-2")
        res = run(name, evidence, case)
        print(json.dumps(res, default=str), flush=True)
        if name in ("ingest-1", "dask-2") and os.environ.get("IAMF_KEEP_CASES") != "1":
            shutil.rmtree(case, ignore_errors=True)  # keep the disk for the next one


if __name__ == "__main__":
    main()
