"""Benchmark: built-in detections + Sigma rules over a large case (``python -m bench.hunt``).

The case is made by :func:`bench.analyses.build_case`: the sample scenario (data/samples,
ingested once, every column kept, raw included) copied N times with new event ids, each copy
shifted by 4 hours, written straight into the case layout in chunks of copies so building
10M events stays within a few GB. Then ``hunt`` runs the whole built-in pack and the Sigma
folder in a fresh process (so its peak RSS is its own), writing findings.parquet and
findings.csv into the case; it prints seconds per stage, wall and CPU seconds, findings and
peak RSS as JSON. ``--cold`` removes the cached sessions first, so the origin stage includes
building them (what a first hunt on a new case costs); without it a cache left by an earlier
run (or ``iamforensics trace``) is read.

Examples
--------
    python -m bench.hunt --events 10000000 --case /tmp/iamf-hunt/case-10m          # build, hunt
    python -m bench.hunt --events 10000000 --case /tmp/iamf-hunt/case-10m --reuse --cold
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.analyses import build_case, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
SIGMA = ROOT.parent / "shared" / "sigma" / "rules-cloud-aws-cloudtrail"


def run_hunt(case_dir: Path, sigma: Path | None, cold: bool) -> dict[str, Any]:
    """Hunt once in this process; seconds exclude imports and opening the case."""
    import resource

    from iamforensics.case import open_case
    from iamforensics.detections import hunt
    from iamforensics.store import DERIVED

    if cold:
        shutil.rmtree(case_dir / DERIVED / "sessions", ignore_errors=True)
    case = open_case(case_dir)
    n = len(case)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = hunt(case, sigma=sigma)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - usage0.ru_utime) + (usage.ru_stime - usage0.ru_stime)
    rep = result.sigma_report
    return {
        "events": n,
        "sessions": "built" if cold else "cached",
        "hunt_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "stages": {k: round(v, 1) for k, v in result.seconds.items()},
        "findings": result.total,
        "findings_by_source": result.by_rule.assign(source=result.by_rule["rule"].str.startswith("sigma:"))
        .groupby("source")["findings"]
        .sum()
        .rename({True: "sigma", False: "builtin"})
        .astype(int)
        .to_dict(),
        "builtin_rules": result.builtin_rules,
        "sigma_rules": 0 if rep is None else len(rep),
        "sigma_converted": 0 if rep is None else int(rep["converted"].sum()),
        "findings_parquet_mb": round(result.paths["parquet"].stat().st_size / 2**20, 1),
        "findings_csv_mb": round(result.paths["csv"].stat().st_size / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "events_per_second": round(n / wall),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--case", default=None, help="case folder (default bench/out/hunt-<events>)")
    p.add_argument("--sigma", default=str(SIGMA))
    p.add_argument("--reuse", action="store_true", help="reuse an existing case")
    p.add_argument("--cold", action="store_true", help="build the sessions (origins) from nothing")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    target = Path(args.case or ROOT / "bench" / "out" / f"hunt-{args.events}")
    sigma = Path(args.sigma) if Path(args.sigma).exists() else None
    if args.child:
        print("RESULT " + json.dumps(run_hunt(target, sigma, args.cold)), flush=True)
        return
    build: dict[str, float] = {}
    if not (args.reuse and (target / "events").exists()):
        build = build_case(target, args.events)
    size = sum(f.stat().st_size for f in (target / "events").rglob("*.parquet"))
    head = {"parquet_mb": round(size / 2**20), **{k: round(v, 1) for k, v in build.items()}}
    cmd = [sys.executable, "-m", "bench.hunt", "--case", str(target), "--sigma", str(args.sigma), "--child"]
    proc = subprocess.run(cmd + (["--cold"] if args.cold else []), capture_output=True, text=True, cwd=ROOT)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"hunt failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    print(json.dumps({**head, **json.loads(line[len("RESULT ") :])}, indent=2))


if __name__ == "__main__":
    main()
