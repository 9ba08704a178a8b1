"""CITATION.cff names the software as pyproject.toml does and cites only DOIs the project records."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_citation_cff_matches_project_and_reference_files():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == project["name"]
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"]
    # every DOI cited is one that parameters/references*.toml or the README gives (case-insensitive)
    recorded = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*sorted((ROOT / "parameters").glob("references*.toml")), ROOT / "README.md"]
    ).lower()
    refs = cff["references"]
    dois = [str(r["doi"]) for r in refs if "doi" in r]
    assert len(dois) >= 4
    missing = [doi for doi in dois if doi.lower() not in recorded]
    assert not missing, f"DOIs in CITATION.cff not in parameters/references*.toml or README: {missing}"
    # the main sources of the README's "how to cite" list are all there
    titles = " ".join(r["title"] for r in refs)
    for words in ("lead halide perovskites in cubic phase", "quantum confinement and halide exchange",
                  "universal dependence on the band gap", "Temperature dependence", "strongly confined"):
        assert " ".join(words.split()) in " ".join(titles.split()), words
