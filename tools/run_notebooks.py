"""Execute the notebooks with papermill against a case and write executed .ipynb and HTML.

The case path is injected as an absolute ``CASE`` parameter; each notebook runs with
notebooks/ as its working directory, as in JupyterLab. The kernel is ``python3``, which in
the project's venv is the venv's own interpreter (jupyter_client starts kernelspecs whose
command is ``python`` with the running ``sys.executable``).

Usage::

    .venv/bin/python tools/run_notebooks.py --case out/case --out out/notebooks [--jobs 2]
    .venv/bin/python tools/run_notebooks.py --case out/case --out /tmp/nb 01_timeline 05_sessions

Examples
--------
>>> from tools.run_notebooks import run_notebook  # doctest: +SKIP
>>> run_notebook(Path("notebooks/01_timeline.ipynb"), Path("/tmp/nb"), {"CASE": "/abs/case"})  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: Sigma rules beside the checkout (not part of the repository; IAMFORENSICS_SHARED moves it,
#: as for the tests' evidence); used when present.
SHARED_SIGMA = Path(os.environ.get("IAMFORENSICS_SHARED", ROOT.parent / "shared")) / "sigma"
KERNEL = "python3"


def notebook_paths(names: Sequence[str] = ()) -> list[Path]:
    """The notebooks in run order, or those named (with or without ``.ipynb``)."""
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    wanted = {n.removesuffix(".ipynb") for n in names}
    chosen = [p for p in every if p.stem in wanted]
    missing = wanted - {p.stem for p in chosen}
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(sorted(missing))}")
    return chosen


def parameters_for(path: Path, case: Path, out: Path, sigma: Path | None) -> dict[str, Any]:
    """Parameters injected into one notebook: the absolute case, and where 08 writes."""
    params: dict[str, Any] = {"CASE": str(case.resolve())}
    if path.stem.startswith("06") and sigma is not None:
        params["SIGMA_DIR"] = str(sigma.resolve())
    if path.stem.startswith("08"):
        params["OUT"] = str((out / path.stem).resolve())  # out/08_report/: its exports and report/
    return params


def run_notebook(path: Path, out: Path, parameters: dict[str, Any], *, html: bool = True) -> Path:
    """Execute one notebook into ``out`` (and its HTML next to it); papermill raises on a cell error."""
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    target = out / path.name
    pm.execute_notebook(
        str(path),
        str(target),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(path.parent),
        progress_bar=False,
        log_output=False,
    )
    if html:
        write_html(target)
    return target


def write_html(executed: Path) -> Path:
    """The executed notebook as one HTML file (outputs embedded; text escaped by nbconvert)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def _run_one(task: tuple[Path, Path, dict[str, Any], bool], prefix: str) -> tuple[str, float, str | None]:
    """Run one notebook; (name, seconds, error or None). Top level, so a process pool can call it."""
    path, out, params, html = task
    if prefix:
        # On its own line: the kernel's own log lines (stderr) may follow it.
        print(f"{prefix}{path.name}", flush=True)
    t = time.perf_counter()
    try:
        run_notebook(path, out, params, html=html)
    except Exception as exc:  # noqa: BLE001 - report every notebook, then fail
        return path.name, time.perf_counter() - t, f"{type(exc).__name__}: {str(exc)[:2000]}"
    return path.name, time.perf_counter() - t, None


def _report(name: str, seconds: float, error: str | None, failed: list[str]) -> None:
    if error is None:
        print(f"    {name} ok ({seconds:.1f} s)", flush=True)
    else:
        failed.append(name)
        print(f"    {name} FAILED ({seconds:.1f} s)\n    {error}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Execute the notebooks against a case (papermill).")
    ap.add_argument("names", nargs="*", help="notebooks to run (default: all), e.g. 01_timeline")
    ap.add_argument("--case", default=str(ROOT / "out" / "case"), help="case folder (default: out/case)")
    ap.add_argument("--out", default=str(ROOT / "out" / "notebooks"), help="folder for executed notebooks")
    ap.add_argument("--sigma", default=None, help="Sigma rules for 06 (default: ../shared/sigma if present)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML export")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time (default 1)")
    args = ap.parse_args(argv)
    case, out = Path(args.case), Path(args.out)
    if not (case / "case.json").is_file():
        print(f"{case}: not a case folder (run `make demo` first)", file=sys.stderr)
        return 2
    sigma = Path(args.sigma) if args.sigma else (SHARED_SIGMA if SHARED_SIGMA.is_dir() else None)
    paths = notebook_paths(args.names)
    jobs = max(1, min(args.jobs, len(paths)))
    t0 = time.perf_counter()
    if jobs > 1:
        # The longest notebook first, so the others fill the second worker meanwhile; the
        # session cache is built once here, not by two kernels racing to write it.
        paths.sort(key=lambda p: not p.stem.startswith("08"))
        from iamforensics import open_case

        open_case(case).sessions()
    tasks = [(path, out, parameters_for(path, case, out, sigma), not args.no_html) for path in paths]
    failed: list[str] = []
    if jobs == 1:
        results = (_run_one(task, f"[{i}/{len(paths)}] ") for i, task in enumerate(tasks, 1))
        for name, seconds, error in results:
            _report(name, seconds, error, failed)
    else:
        print(f"{len(paths)} notebooks, {jobs} at a time", flush=True)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_run_one, task, "") for task in tasks]
            for future in as_completed(futures):
                _report(*future.result(), failed)
    total = time.perf_counter() - t0
    print(f"{len(paths) - len(failed)} of {len(paths)} notebooks ran in {total:.1f} s; written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
