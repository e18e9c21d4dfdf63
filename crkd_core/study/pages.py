"""A notebook as a static HTML page: nbconvert's lab template with code cells hidden.

The pages and the index load one shared `plotly.min.js` written beside them (plotly.js inlined
in every page would be ~5 MB a page), and the pages one shared `notebook.css` (nbconvert's
stylesheet, ~270 kB a page inlined), so the folder works offline as a whole; the template drops
the CDN scripts (require.js, MathJax, mermaid) that the notebooks do not need and that fail
offline.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..io import atomic_write_text

PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/javascript" src="{{ resources.crkd_plotlyjs_src }}"></script>
{%- endblock html_head_js -%}
{%- block notebook_css -%}
<link rel="stylesheet" type="text/css" href="{{ resources.crkd_css_href }}"/>
{%- endblock notebook_css -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block body_header -%}
{{ super() }}
<nav class="crkd-nav"><a href="index.html">&larr; study index</a></nav>
{%- endblock body_header -%}
"""

# The stylesheet that the lab template would inline in every page, rendered on its own.
CSS_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block header -%}{{ self.notebook_css() }}{%- endblock header -%}
{%- block body_header -%}{%- endblock body_header -%}
{%- block body_footer -%}{%- endblock body_footer -%}
{%- block footer -%}{%- endblock footer -%}
"""


PLOTLY_JS = "plotly.min.js"  # written once beside the pages
PAGE_CSS = "notebook.css"  # likewise


def plotly_js() -> str:
    """plotly.js, minified, as shipped with the installed plotly."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_assets(reports: Path) -> None:
    """plotly.min.js and notebook.css, shared by every page, readable by all."""
    atomic_write_text(reports / PLOTLY_JS, plotly_js()).chmod(0o644)
    atomic_write_text(reports / PAGE_CSS, page_css()).chmod(0o644)


def _exporter(template: str = "crkd_page.html.j2"):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file=template,
        extra_loaders=[
            DictLoader({"crkd_page.html.j2": PAGE_TEMPLATE, "crkd_css.j2": CSS_TEMPLATE})
        ],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def page_css() -> str:
    """The lab template's page stylesheet, as plain CSS (its <style> blocks joined)."""
    import nbformat

    fragment, _ = _exporter("crkd_css.j2").from_notebook_node(nbformat.v4.new_notebook())
    return "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", fragment, re.S))


def notebook_page(notebook: str | Path, out: str | Path) -> Path:
    """Convert an executed notebook into an HTML page (code hidden) beside the shared assets."""
    import nbformat

    out = Path(out)
    if not (out.parent / PLOTLY_JS).is_file() or not (out.parent / PAGE_CSS).is_file():
        write_assets(out.parent)
    nb = nbformat.read(str(notebook), as_version=4)
    resources = {"crkd_plotlyjs_src": PLOTLY_JS, "crkd_css_href": PAGE_CSS}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    return atomic_write_text(out, body)
