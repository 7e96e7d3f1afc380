"""Write the guided notebooks in notebooks/ from their cells in tools/notebook_cells/.

Every notebook is plain data there (reviewable, reproducible): a first markdown cell with the
question and the CloudTrail fields that carry the answer, one cell tagged ``parameters``
(papermill), then calls into the package only. The notebooks are written without outputs and with stable
cell ids, so running this script twice gives the same bytes.

Usage::

    .venv/bin/python tools/build_notebooks.py          # (re)write notebooks/*.ipynb
    .venv/bin/python tools/build_notebooks.py --check  # exit 1 when notebooks/ is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

try:
    from tools.notebook_cells import CELLS, TITLES
except ImportError:  # run as a script: tools/ itself is on sys.path
    from notebook_cells import CELLS, TITLES  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
__all__ = ["CELLS", "TITLES", "build", "main", "render"]


def build(stem: str) -> nbformat.NotebookNode:
    """One notebook from its cells, with stable ids and no outputs."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(CELLS[stem]):
        cid = f"{stem[:2]}-{i:02d}"
        if kind == "md":
            cell = new_markdown_cell(source, id=cid)
        else:
            cell = new_code_cell(source, id=cid)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(stem: str) -> str:
    return nbformat.writes(build(stem)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a notebook differs from this script")
    args = ap.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for stem in CELLS:
        path = NOTEBOOKS / f"{stem}.ipynb"
        text = render(stem)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale notebooks (run tools/build_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
