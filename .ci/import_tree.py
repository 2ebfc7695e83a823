"""Lay out the installed package tree for the import contracts (`make lint` runs `lint-imports` on it).

The stage folders are mapped under `newsmon.` by setuptools' package-dir (pyproject.toml), and an editable
install resolves them through an import hook that import-linter's graph builder does not follow: it walks
the `newsmon/` folder only. This builds the tree as a wheel would install it, from symbolic links, and
prints the folder to put on PYTHONPATH.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> None:
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(out, ignore_errors=True)
    top = out / "newsmon"
    top.mkdir(parents=True)
    for entry in (ROOT / mapping["newsmon"]).iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for package, folder in mapping.items():
        if package != "newsmon":
            (top / package.removeprefix("newsmon.")).symlink_to(ROOT / folder)
    print(out.resolve())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
