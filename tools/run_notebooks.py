"""Execute the notebooks with papermill against a case and write executed .ipynb and HTML.

The case path is injected as an absolute ``CASE`` parameter; each notebook runs with
notebooks/ as its working directory, as in JupyterLab. The kernel is ``python3``, which in
the project's venv is the venv's own interpreter (jupyter_client starts kernelspecs whose
command is ``python`` with the running ``sys.executable``).

Usage::

    .venv/bin/python tools/run_notebooks.py --case out/case --out out/notebooks
    .venv/bin/python tools/run_notebooks.py --case out/case --out /tmp/nb 01_timeline 05_sessions

Examples
--------
>>> from tools.run_notebooks import run_notebook  # doctest: +SKIP
>>> run_notebook(Path("notebooks/01_timeline.ipynb"), Path("/tmp/nb"), {"CASE": "/abs/case"})  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: Sigma rules beside the checkout (not part of the repository); used when present.
SHARED_SIGMA = ROOT.parent / "shared" / "sigma"
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
        params["OUT"] = str((out / "report").resolve())
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Execute the notebooks against a case (papermill).")
    ap.add_argument("names", nargs="*", help="notebooks to run (default: all), e.g. 01_timeline")
    ap.add_argument("--case", default=str(ROOT / "out" / "case"), help="case folder (default: out/case)")
    ap.add_argument("--out", default=str(ROOT / "out" / "notebooks"), help="folder for executed notebooks")
    ap.add_argument("--sigma", default=None, help="Sigma rules for 06 (default: ../shared/sigma if present)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML export")
    args = ap.parse_args(argv)
    case, out = Path(args.case), Path(args.out)
    if not (case / "case.json").is_file():
        print(f"{case}: not a case folder (run `make demo` first)", file=sys.stderr)
        return 2
    sigma = Path(args.sigma) if args.sigma else (SHARED_SIGMA if SHARED_SIGMA.is_dir() else None)
    paths = notebook_paths(args.names)
    t0 = time.perf_counter()
    failed: list[str] = []
    for i, path in enumerate(paths, 1):
        t = time.perf_counter()
        # On its own line: the kernel's own log lines (stderr) may follow it.
        print(f"[{i}/{len(paths)}] {path.name}", flush=True)
        try:
            run_notebook(path, out, parameters_for(path, case, out, sigma), html=not args.no_html)
        except Exception as exc:  # noqa: BLE001 - report every notebook, then fail
            failed.append(path.name)
            print(
                f"    FAILED ({time.perf_counter() - t:.1f} s)\n    {type(exc).__name__}: {str(exc)[:2000]}"
            )
            continue
        print(f"    ok ({time.perf_counter() - t:.1f} s)", flush=True)
    total = time.perf_counter() - t0
    print(f"{len(paths) - len(failed)} of {len(paths)} notebooks ran in {total:.1f} s; written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
