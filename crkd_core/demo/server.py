"""A demo page served on localhost, cross-origin isolated.

Served with COOP `same-origin` and COEP `require-corp`, the page is cross-origin isolated and
WASM threads work; without them onnxruntime-web silently runs on one thread. Browsers give the
camera only to secure origins, so the page is opened from localhost.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from ..errors import ConfigError


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers of a cross-origin-isolated page, never cached."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
        ".json": "application/json",
    }

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # one line per file would bury the URL


def make_server(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    """A localhost server of `folder` (port 0: any free port)."""
    handler = functools.partial(IsolatedHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve on localhost port {port}: {exc.strerror}") from exc


def serve_until_stopped(server: http.server.ThreadingHTTPServer) -> None:
    """Serve until Ctrl-C, then close the server."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
