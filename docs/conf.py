"""Sphinx configuration of fer-toolkit's documentation (``make docs``)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # _ext: the layer diagram

import fer_toolkit  # noqa: E402  (the installed package: pip install -e '.[docs]')

project = "fer-toolkit"
author = "fer-toolkit developers"
copyright = "fer-toolkit developers, MIT licence"
release = fer_toolkit.__version__
version = release

extensions = [
    "myst_parser",  # pages in Markdown, README-style
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",  # the NumPy-style docstrings, as scikit-image renders them
    "sphinx.ext.graphviz",
    "sphinx.ext.intersphinx",
    "sphinxarg.ext",  # the command reference, read from the argparse parsers
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# Every public name must have a docstring: numpydoc's GL08 ("no docstring") warns, and the build
# treats warnings as errors.
numpydoc_validation_checks = {"GL08"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_member_order = "bysource"
# Members without a docstring are listed too, so that numpydoc's GL08 check sees them.
autodoc_default_options = {"undoc-members": True}
autodoc_typehints = "none"
autosummary_generate = False
# Offline: intersphinx has no inventories to fetch; kept so that links can be added where one is stored.
intersphinx_mapping = {}
# A link or cross-reference in a page that leads nowhere is an error (with -W); docstrings'
# references to Python objects (their types, internal helpers) are not all documented pages.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r".*")]

html_theme = "pydata_sphinx_theme"
html_title = "fer-toolkit"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
graphviz_output_format = "svg"
