"""Shared pieces of the figure builders: safe labels, images, and the static-page renderer.

Every string from a dataset (glosses, ids) goes through `label()` (HTML-escaped) before it
becomes figure text: plotly reads a few HTML tags in text, and an escaped string shows as
itself. Images are embedded as PNG data URIs, which keeps figures small.

Under papermill, plotly's default renderer is dropped by nbconvert, and the `notebook`
renderer inlines 5 MB of plotly.js into every notebook. `setup()` selects the `crkd` renderer
instead: each figure carries the plotly mime type (JupyterLab draws it) and an HTML div that
calls `Plotly.newPlot`; `crkd_core.study.report` puts plotly.js once into each page's head.
"""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image
from plotly.colors import qualitative
from plotly.io._base_renderers import MimetypeRenderer

PLOTLY_MIME = "application/vnd.plotly.v1+json"
SETTING_COLOURS = dict(
    zip(
        ["none", "feature-scale", "feature-recover", "logit", "both"],
        qualitative.Plotly,
        strict=False,
    )
)


def label(text: object) -> str:
    """A dataset string made safe for figure text, titles and hover labels."""
    return html.escape(str(text), quote=True)


# -- rendering ---------------------------------------------------------------------------------
class StaticRenderer(MimetypeRenderer):
    """The plotly mime bundle plus a div for static HTML (plotly.js comes from the page)."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        fig_json = json.loads(pio.to_json(fig_dict, validate=False))
        div = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            full_html=False,
            validate=False,
            config={"displaylogo": False, "responsive": True},
        )
        return {PLOTLY_MIME: fig_json, "text/html": div}


def setup() -> None:
    """Select the `crkd` renderer (call once at the top of a notebook)."""
    pio.renderers["crkd"] = StaticRenderer()
    pio.renderers.default = "crkd"


def png_uri(img: np.ndarray) -> str:
    """(H, W, 3) uint8 -> a PNG data URI."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def enlarge(img: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (h, w, 3) to (size, size, 3): pixels stay visible."""
    k = max(1, size // img.shape[0])
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def hide_axes(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor=None)
    return fig
