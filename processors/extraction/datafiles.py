"""Where the extraction's data files live (lexicons, gazetteer, ontology under `data/`).

Every loader resolves its file name here, so a component configured with a bare name ("cues.yaml")
reads the copy shipped with the package and an absolute path reads the caller's own file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["DATA_DIR", "data_path", "read_yaml"]

DATA_DIR = Path(__file__).resolve().parent / "data"


def data_path(name: str | Path) -> Path:
    """`name` itself when absolute, else the file of that name in the package's data directory."""
    p = Path(name)
    return p if p.is_absolute() else DATA_DIR / p


def read_yaml(name: str | Path):
    """The parsed YAML of a data file (see `data_path`)."""
    return yaml.safe_load(data_path(name).read_text(encoding="utf-8"))
