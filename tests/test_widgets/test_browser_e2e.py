"""End to end: JupyterLab in headless Chromium runs the browser and viewer cells on a small archive.

Needs Debian's chromium (/usr/bin/chromium) and playwright (Python); skips otherwise. Every request the
page makes is recorded, and any request that leaves 127.0.0.1 fails the test. Screenshots go to
``test-artifacts/``. Scrolling speed and time to first image are printed (run with ``-s``).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from .conftest import make_small_archive

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
Image = pytest.importorskip("PIL.Image")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _notebook(root: str, uid: str) -> dict:
    cells = [
        f"import time, pacslab\narchive = pacslab.open_archive({root!r})\nbrowser = archive.browse()\nbrowser",
        f"open('t0.txt', 'w').write(repr(time.time()))\nviewer = archive.view({uid!r})\nviewer",
        f"archive.view3d({uid!r}, size=64, renderer='mip')",
        f"archive.view3d({uid!r}, size=64)",
    ]
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [], "source": s}
            for i, s in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(params=["lab", "notebook"])
def lab(request: pytest.FixtureRequest, tmp_path: Path):
    """JupyterLab 4 or Notebook 7 on 127.0.0.1 with temp HOME / Jupyter dirs, and a notebook on a 512² CT archive."""
    app = request.param
    if app == "notebook":
        pytest.importorskip("notebook", minversion="7", reason="Notebook 7 is not installed (pip install notebook)")
    cls = "LabApp" if app == "lab" else "JupyterNotebookApp"
    archive, ct, _ = make_small_archive(tmp_path / "data", rows=512, n_slices=40)
    root = archive.url
    archive.close()
    work = tmp_path / "work"
    work.mkdir()
    (work / "e2e.ipynb").write_text(json.dumps(_notebook(root, ct)))
    settings = tmp_path / "lab-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"}})
    )
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jdata"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrun"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "juser"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "jws"),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            app,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            *(["--LabApp.extension_manager=readonly"] if app == "lab" else []),  # Notebook 7 has no such manager
            f"--{cls}.app_settings_dir={settings}",
            f"--{cls}.expose_app_in_browser=True",
            f"--ServerApp.root_dir={work}",
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
        path = "lab/tree/e2e.ipynb?reset&" if app == "lab" else "notebooks/e2e.ipynb?"
        yield {"url": url, "token": token, "root": root, "series": ct, "work": work, "path": path, "app": app}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


SCROLL_JS = """async ([n, delta]) => {
  const c = document.querySelector('.pacslab-viewer canvas.pl-canvas'), s = window.__pacslab, t = performance.now();
  for (let i = 0; i < n; i++) {
    const r = s.rendered;
    c.dispatchEvent(new WheelEvent('wheel', {deltaY: delta, bubbles: true, cancelable: true}));
    while (s.rendered <= r) await new Promise((f) => setTimeout(f, 0));
  }
  return (performance.now() - t) / 1000;
}"""


def _variance(png: bytes) -> float:
    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float).var())


def test_lab_browser_viewer_ruler(lab, tmp_path: Path) -> None:
    import pacslab
    from pacslab.widgets import annotations

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []

    def record(request) -> None:
        parsed = urlparse(request.url)
        if parsed.scheme in ("data", "blob", "about"):
            return
        if parsed.hostname != "127.0.0.1":
            outside.append(request.url)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.on("request", record)
        page.goto(f"{lab['url']}/{lab['path']}token={lab['token']}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(
            "window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session",
            timeout=60_000,
        )
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        canvas = page.locator(".pacslab-viewer canvas.pl-canvas")
        page.wait_for_function("window.__pacslab && window.__pacslab.firstImage !== null", timeout=90_000)
        first_wall = page.evaluate("Date.now() - (performance.now() - window.__pacslab.firstImage)") / 1000
        t0 = float((lab["work"] / "t0.txt").read_text())
        print(f"\n[{lab['app']}] time from view() to first image: {first_wall - t0:.2f} s")
        page.wait_for_selector(".pacslab-browser tr.pl-study", timeout=30_000)
        canvas.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-lab.png"), full_page=True)
        assert _variance(canvas.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-canvas.png"))) > 10, (
            "the canvas is blank"
        )

        # 3-D view rendered offline
        page.wait_for_selector(".pacslab-view3d[data-rendered] canvas.pl-mip", timeout=60_000)
        mip = page.locator(".pacslab-view3d canvas.pl-mip")
        mip.scroll_into_view_if_needed()
        assert _variance(mip.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-mip.png"))) > 10, "the MIP is blank"
        page.wait_for_selector(".pacslab-vtk[data-rendered] .pl-vtk-view canvas", timeout=60_000)
        vtk = page.locator(".pacslab-vtk .pl-vtk-view")
        vtk.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        assert _variance(vtk.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-vtk.png"))) > 10, (
            "the vtk.js rendering is blank"
        )
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        readout = page.locator(".pacslab-viewer .pl-readout").inner_text()
        assert "voxel (z 20," in readout and "mm" in readout and readout.endswith("HU"), readout

        # study browser: expand the study, pick the series
        page.locator(".pacslab-browser tr.pl-study").first.click()
        page.wait_for_selector(".pacslab-browser .pl-card img", timeout=30_000)
        page.locator(".pacslab-browser .pl-card").first.click()
        page.wait_for_selector(".pacslab-browser .pl-card.pl-active", timeout=10_000)

        # scroll: wheel, one slice per event, waiting for each slice to be drawn
        box = canvas.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        n = 10
        rendered = page.evaluate("window.__pacslab.rendered")
        start = time.perf_counter()
        for i in range(n):  # through playwright: includes its round trips
            page.mouse.wheel(0, 100 if i < n // 2 else -100)
            page.wait_for_function(f"window.__pacslab.rendered > {rendered + i}", timeout=10_000)
        print(f"scrolling via playwright wheel events: {n / (time.perf_counter() - start):.1f} slices/s")
        # in the page: wheel events dispatched back to back, each waiting for its slice to be drawn
        for label, steps, delta in (("down, new slices", 18, 100), ("back up, cached", 18, -100)):
            seconds = page.evaluate(SCROLL_JS, [steps, delta])
            print(f"scrolling a 512x512 CT ({label}): {steps / seconds:.1f} slices/s")
        info = page.locator(".pacslab-viewer .pl-info").inner_text()
        assert info.startswith("axial 21/40"), info

        # window: a preset, then a W/L drag
        page.locator(".pacslab-viewer select.pl-preset").select_option(label="lung (-600/1500)")
        page.wait_for_function(
            "document.querySelector('.pacslab-viewer .pl-info').textContent.includes('W 1500 L -600')"
        )
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 40, cy + 20, steps=4)
        page.mouse.up()
        info = page.locator(".pacslab-viewer .pl-info").inner_text()
        assert "W 1500 L -600" not in info
        canvas.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-window.png"))

        # ruler: 200 screen px to the right and 100 down
        page.locator(".pacslab-viewer button[data-tool=ruler]").click()
        page.mouse.move(cx - 100, cy - 50)
        page.mouse.down()
        page.mouse.move(cx + 100, cy + 50, steps=5)
        page.mouse.up()
        page.wait_for_selector(".pacslab-viewer .pl-annotation", timeout=15_000)
        view = json.loads(canvas.get_attribute("data-view"))
        canvas.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-ruler.png"))
        css_scale = float(canvas.evaluate("c => c.width / c.getBoundingClientRect().width"))

        # coronal reformat: rows are 2.5 mm slices, columns 0.6 mm pixels, drawn with the true aspect
        page.locator(".pacslab-viewer select.pl-plane").select_option("coronal")
        page.wait_for_function(
            "JSON.parse(document.querySelector('.pacslab-viewer canvas.pl-canvas').dataset.view).plane === 'coronal'"
        )
        coronal = json.loads(canvas.get_attribute("data-view"))
        assert coronal["sy"] / coronal["sx"] == pytest.approx(2.5 / 0.6)
        assert page.locator(".pacslab-viewer .pl-marker.pl-top").inner_text() == "S"
        canvas.screenshot(path=str(ARTIFACTS / f"e2e-{lab['app']}-coronal.png"))
        browser.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"

    archive = pacslab.open_archive(lab["root"])
    try:
        frame = annotations(archive, lab["series"])
        assert len(frame) == 1 and frame.iloc[0]["kind"] == "ruler"
        row = frame.iloc[0]
        volume = archive.open_volume(lab["series"])
        affine = np.asarray(volume.attrs["affine"])
        kji = np.asarray(row["voxel_points"])
        mm = (np.c_[kji[:, ::-1], np.ones(2)] @ affine.T)[:, :3]
        assert row["length_mm"] == pytest.approx(float(np.linalg.norm(mm[1] - mm[0])), rel=1e-9)
        expected = float(np.hypot(200, 100)) * css_scale / view["ppm"]  # screen distance / (px per mm)
        assert row["length_mm"] == pytest.approx(expected, rel=0.03)
        assert row["plane"] == "axial" and row["slice_index"] == 20
    finally:
        archive.close()
