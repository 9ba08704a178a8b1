"""Sphinx configuration: API reference (autosummary, numpydoc), user guide (MyST) and notebooks (myst-nb).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (README "Documentation").
The API pages are generated at build time by a recursive autosummary over the packages
``perovskite_tb`` and ``kp`` (``docs/api.md``); no module list is kept by hand.
"""

from __future__ import annotations

import inspect
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Document the checked-out source, whatever copy of the package is installed.
sys.path.insert(0, str(ROOT))

_pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

project = _pyproject["name"]
release = version = _pyproject["version"]
author = "perovskite-tb developers"
copyright = "perovskite-tb developers (MIT licence)"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",  # brings myst_parser (Markdown) and renders notebooks/*.ipynb
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# --- API reference -----------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # types are in the numpydoc "Parameters" sections
# Each object is described on the page of the module that defines it. Many modules list re-exported
# names in __all__ (e.g. kp.solver re-exports eigen.doublets.Doublet); respecting __all__ would describe
# those objects twice ("duplicate object description") under the same name.
autodoc_default_options = {"ignore-module-all": True}
autosummary_ignore_module_all = True
# `python -m perovskite_tb` runs the CLI at import time (raise SystemExit(main())); it is an entry
# script, not API, and importing it would run the program inside Sphinx. Nothing else is mocked.
autodoc_mock_imports = ["perovskite_tb.__main__"]

numpydoc_show_class_members = False  # autodoc ":members:" lists them; avoids a second table per class
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


# The docstrings are written for the terminal as well: |x| is an absolute value or norm, not a
# reStructuredText substitution reference. Escape bars outside literals and :math: roles (which may
# span lines) before numpydoc and docutils see them; the source files stay as they are.
_LITERAL = re.compile(r"(``.*?``|:math:`[^`]*`|`[^`]*`)", re.DOTALL)
_BAR = re.compile(r"(?<!\\)\|")


def _escape_absolute_value_bars(app, what, name, obj, options, lines):
    text = "\n".join(lines)
    if "|" not in text:
        return
    parts = _LITERAL.split(text)
    lines[:] = "".join(p if k % 2 else _BAR.sub(r"\\|", p) for k, p in enumerate(parts)).split("\n")


def _skip_foreign(app, what, name, obj, skip, options):
    # Classes and functions imported from other libraries (e.g. scipy's cKDTree) are never documented
    # here (ignore-module-all); skipping them early spares autodoc formatting their signatures.
    if (inspect.isclass(obj) or inspect.isroutine(obj)) and not str(
        getattr(obj, "__module__", None) or ""
    ).startswith(("perovskite_tb", "kp")):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_absolute_value_bars, priority=400)
    app.connect("autodoc-skip-member", _skip_foreign)


# --- Markdown and notebooks ----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # notebooks are committed without outputs; CI runs them (tests/test_notebooks.py)

# --- Warnings ------------------------------------------------------------------------------------
# The build runs with -W (warnings are errors). Suppressed, with the reason:
suppress_warnings = [
    # reStructuredText formatting slips inside docstrings (e.g. a section underline shorter than its
    # title); the text still renders. tests/test_docs.py builds without this suppression and fails on
    # any docutils message that is not one of the known docstring slips it lists.
    "docutils",
]

# --- HTML ----------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"{project} {release}"
