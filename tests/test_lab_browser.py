"""JupyterLab as a researcher meets it after `make lab`: a real server, Debian's Chromium.

A JupyterLab server starts on localhost with a token, on copies of notebooks 00 and 01 whose
parameters cells point at the session's smoke data and a temporary study folder. Playwright's
Python package drives the system Chromium (it never downloads a browser). In notebook 00 the
test runs every cell from the Run menu, drags the data browser's frame slider and checks that
the teacher's frame changes; in notebook 01 (interactive, two epochs) it checks that the live
learning curve gains points while the training cell still runs.

Skipped when Chromium or Playwright is missing, unless CI is set (then they are required).
`CRKD_WRITE_SCREENSHOT=1` also writes the README's screenshot, docs/lab.png.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IDLE = "Python 3 (ipykernel) | Idle"  # the status bar once the venv's python3 kernel is ready
SCREENSHOT = ROOT / "docs" / "lab.png"


def require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (bash tools/sysdeps.sh; make venv)")
    pytest.skip(f"{what} is not installed")


# -- the server ----------------------------------------------------------------------------------
def set_parameters(source: Path, target: Path, **values) -> None:
    """Copy a notebook, giving the named parameters new literal values (as a user edits them)."""
    nb = nbformat.read(str(source), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = []
    for line in cell.source.splitlines():
        name = line.split(":", 1)[0]
        if name in values:  # `name: type = literal  # comment`
            head, _, rest = line.partition(" = ")
            line = f"{head} = {values.pop(name)!r}{rest[rest.index('  # ') :]}"
        lines.append(line)
    assert not values, f"no such parameters: {values}"
    cell.source = "\n".join(lines)
    nbformat.write(nb, str(target))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on `folder`, with its own runtime, config and settings folders."""

    def __init__(self, folder: Path, scratch: Path):
        self.token, self.port = secrets.token_hex(16), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        settings = scratch / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        # no news or update toasts over the notebook (and no network from the page)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        # every cell drawn, in view or not: a cell's live plot exists from its first update on
        # (by default a cell out of view is drawn only when scrolled to, and on a fast CPU the
        # two epochs could end before the plot was first drawn)
        tracker = scratch / "settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True)
        (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
            "JUPYTER_CONFIG_DIR": str(scratch / "config"),
            "JUPYTER_PREFER_ENV_PATH": "1",  # the venv's kernels first, as `make lab` does
            "CRKD_NO_PROGRESS": "1",
            "OMP_WAIT_POLICY": "PASSIVE",  # kernels train on a shared machine
        }
        self.log = scratch / "lab.log"
        cmd = [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={folder}",
            f"--LabApp.user_settings_dir={scratch / 'settings'}",
            f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        ]
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        self.wait_until_up(timeout=90)

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(
            f"{self.base}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"jupyter lab exited:\n{self.tail()}"
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"jupyter lab did not answer in {timeout:.0f} s:\n{self.tail()}")

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"  # a fresh layout

    def shut_down_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text("utf-8", errors="replace")[-n:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, smoke_data):
    require("chromium", Path(CHROMIUM).is_file() or shutil.which("chromium") is not None)
    require("playwright (pip)", _has_playwright())
    scratch = tmp_path_factory.mktemp("lab")
    folder, study = scratch / "notebooks", scratch / "study"
    folder.mkdir()
    common = {"data": str(smoke_data), "study_dir": str(study)}
    set_parameters(ROOT / "notebooks" / "00_explore_data.ipynb", folder / "00.ipynb", **common)
    set_parameters(
        ROOT / "notebooks" / "01_train_teacher.ipynb",
        folder / "01.ipynb",
        **common,
        epochs=2,
        seeds=[0],  # one teacher: its two epochs' points are what the test counts
    )
    server = Lab(folder, scratch)
    yield server
    server.stop()


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.set_default_timeout(60_000)
    yield page
    page.screenshot(path=str(tmp_path / "last.png"))  # for a failure's post-mortem
    page.close()
    lab.shut_down_kernels()  # free the CPU for the next notebook


# -- what a user does ----------------------------------------------------------------------------
def open_and_run_all(page, lab, notebook: str) -> None:
    """Open a notebook, wait for its kernel, and click Run > Run All Cells."""
    page.goto(lab.url(notebook))
    page.get_by_text(IDLE).wait_for(timeout=120_000)
    page.keyboard.press("Control+b")  # hide the file browser, as for a screenshot
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def error_outputs(page) -> list[str]:
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [t for t in stderr.all_inner_texts() if "Error" in t or "Traceback" in t]


def drag(page, slider, fraction: float) -> None:
    """Drag a noUiSlider's handle to `fraction` of its track with the mouse."""
    handle = slider.locator(".noUi-handle").bounding_box()
    track = slider.locator(".noUi-target").bounding_box()
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * fraction, y, steps=8)
    page.mouse.up()


def test_explorer_slider_changes_the_shown_frame(lab, page):
    open_and_run_all(page, lab, "00.ipynb")
    view = page.locator(".crkd-browser img.crkd-teacher-view")
    view.wait_for(timeout=180_000)
    page.get_by_text(IDLE).wait_for(timeout=60_000)
    assert error_outputs(page) == []
    caption = page.locator(".crkd-browser .crkd-frame-caption")
    assert caption.inner_text().startswith("frame 0 of ")
    src, pixels = view.get_attribute("src"), view.screenshot()

    frame = page.locator(".crkd-browser .widget-hslider").filter(has_text="frame")
    drag(page, frame, 0.55)
    page.wait_for_function("([el, src]) => el.src !== src", arg=[view.element_handle(), src])
    page.wait_for_function(
        "el => !el.textContent.startsWith('frame 0 ')", arg=caption.element_handle()
    )
    assert view.screenshot() != pixels, "the image's source changed but not its pixels"
    moved = int(frame.locator(".widget-readout").inner_text())
    assert moved > 0 and caption.inner_text().startswith(f"frame {moved} of ")
    student = page.locator(".crkd-browser .crkd-student-view")
    assert student.bounding_box()["width"] > 100  # shown enlarged beside the teacher's
    if os.environ.get("CRKD_WRITE_SCREENSHOT") == "1":
        write_screenshot(page)


def write_screenshot(page) -> None:
    """docs/lab.png: the browser cell, as the README shows it (small: a flat-colour PNG)."""
    cell = page.locator(".jp-CodeCell").filter(has=page.locator(".crkd-browser"))
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    clip = {"x": 0, "y": 0, "width": 1100, "height": min(760, box["y"] + box["height"] + 10)}
    page.screenshot(path=str(SCREENSHOT), clip=clip)
    assert SCREENSHOT.stat().st_size < 200_000


def test_live_curves_gain_points_while_training(lab, page):
    open_and_run_all(page, lab, "01.ipynb")
    cell = page.locator(".jp-CodeCell").filter(has_text="LiveCurves(")
    points = cell.locator(".jp-OutputArea .js-plotly-plot .scatterlayer path.point")
    cell.locator(".jp-OutputArea .js-plotly-plot").first.wait_for(timeout=180_000)
    seen_while_running, deadline = set(), time.monotonic() + 300
    while "*" in cell.locator(".jp-InputPrompt").inner_text():
        cell.scroll_into_view_if_needed()  # JupyterLab does not draw cells out of view
        seen_while_running.add(points.count())
        assert time.monotonic() < deadline, f"training did not finish: {seen_while_running}"
        time.sleep(0.25)
    # two epochs, two curves (train loss, dev WER): 2 points after the first epoch, 4 after. The
    # last update may still be drawing when the prompt changes (or the cell, scrolled back into
    # view, is drawn again): wait for it rather than count at once.
    settle = time.monotonic() + 60
    while (final := points.count()) != 4 and time.monotonic() < settle:
        cell.scroll_into_view_if_needed()
        time.sleep(0.25)
    assert final == 4, (final, error_outputs(page))
    assert {0, 2} <= seen_while_running, seen_while_running
    page.get_by_text(IDLE).wait_for(timeout=120_000)
    assert error_outputs(page) == []
