"""The JupyterLab extension (extensions/jupyterlab-pacslab): the wheel installs without node, and the "PACS"
panel works in JupyterLab in headless Chromium on a small generated archive.

Skips when the built labextension, chromium (/usr/bin/chromium) or playwright are missing. Every request the page
makes is recorded; any request that leaves 127.0.0.1 fails the test. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

import pacslab
from pacslab.examples import generate_ct_series, generate_mr_series, make_patient, make_study, write_series

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "extensions" / "jupyterlab-pacslab"
LABEXT = EXT / "pacslab_jupyterlab" / "labextension"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
requests = pytest.importorskip("requests")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("jupyterlab-pacslab"),
    pytest.mark.skipif(
        not (LABEXT / "package.json").exists(),
        reason="the labextension is not built (cd extensions/jupyterlab-pacslab && jlpm install && jlpm build)",
    ),
]


# `jupyter labextension list` / `jupyter server extension list` without the jupyter-* scripts on PATH
LABEXT_LIST = "import sys; from jupyterlab.labextensions import main; sys.exit(main())"
SERVEREXT_LIST = "import sys; from jupyter_server.extension.serverextension import main; sys.exit(main())"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _no_node_path(tmp: Path) -> str:
    """A PATH with this Python and nothing else: no node, npm or jlpm."""
    bin_dir = tmp / "bin-no-node"
    bin_dir.mkdir()
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(sys.executable)
    return str(bin_dir)


def test_wheel_installs_without_node(tmp_path: Path) -> None:
    # Given the extension's source with its committed labextension and no node on PATH
    path = _no_node_path(tmp_path)
    env = {**os.environ, "PATH": path, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip
    for var in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "PYTHONPATH"):
        env.pop(var, None)
    assert shutil.which("node", path=path) is None
    src = tmp_path / "src"  # a copy, so a build never writes into the checkout
    shutil.copytree(EXT, src, ignore=shutil.ignore_patterns("node_modules", "lib", ".yarn", "*.tsbuildinfo"))
    # When building its wheel and installing it in a new environment
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", str(src), "-w", str(tmp_path / "wheels")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if build.returncode and "Could not find a version" in build.stderr + build.stdout:
        pytest.skip("the build backend (hatchling, hatch-jupyter-builder) cannot be fetched here")
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("pacslab_jupyterlab-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
    vpy = venv / "bin" / "python"
    site = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    here = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    # the test environment's packages (jupyterlab, pip) are visible, as with --system-site-packages
    Path(site, "_outer.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    install = subprocess.run(
        [str(vpy), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--prefix", str(venv), str(wheel)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    # Then JupyterLab lists the prebuilt extension as enabled and the server extension as enabled
    env["PATH"] = f"{venv / 'bin'}:{path}"
    labext = subprocess.run([str(vpy), "-c", LABEXT_LIST, "list"], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    out = labext.stdout + labext.stderr
    assert "pacslab-jupyterlab" in out and "enabled" in out and "OK" in out, out
    assert str(venv) in out, out
    srvext = subprocess.run([str(vpy), "-c", SERVEREXT_LIST, "list"], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    out = srvext.stdout + srvext.stderr
    assert "pacslab_jupyterlab" in out and "enabled" in out, out


def _make_archive(root: Path) -> tuple[str, str, str]:
    """Two patients: a CT chest and an MR brain study; returns the archive URL and the series UIDs."""
    ct = generate_ct_series(seed=11, n_slices=6, rows=64, columns=64, patient=make_patient(seed=11),
                            study=make_study(seed=11, kind="CT", description="CT CHEST"))  # fmt: skip
    mr = generate_mr_series(seed=12, n_slices=4, rows=64, columns=64, patient=make_patient(seed=12),
                            study=make_study(seed=12, kind="MR", description="MR BRAIN"))  # fmt: skip
    write_series(ct, root / "input" / "ct")
    write_series(mr, root / "input" / "mr")
    archive = pacslab.open_archive(root / "archive", create=True)
    archive.ingest(root / "input", progress=False, build_volumes=True)
    url = archive.url
    archive.close()
    return url, str(ct[0].SeriesInstanceUID), str(mr[0].SeriesInstanceUID)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab on 127.0.0.1 with the extension (labextension path + server extension) on a small archive."""
    tmp = tmp_path_factory.mktemp("lab")
    root, ct, mr = _make_archive(tmp / "data")
    upload_dir = tmp / "upload"
    upload = generate_ct_series(seed=21, n_slices=1, rows=64, columns=64, patient=make_patient(seed=21),
                                study=make_study(seed=21, kind="CT", description="UPLOADED HEAD"))  # fmt: skip
    write_series(upload, upload_dir)
    (upload_file,) = [p for p in upload_dir.rglob("*") if p.is_file()]
    labexts = tmp / "labextensions"
    labexts.mkdir()
    (labexts / "pacslab-jupyterlab").symlink_to(LABEXT, target_is_directory=True)
    settings = tmp / "lab-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"}})
    )
    work = tmp / "work"
    work.mkdir()
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp / "jcfg"),
        "JUPYTER_DATA_DIR": str(tmp / "jdata"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "jrun"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "juser"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "jws"),
        "PACSLAB_ARCHIVE": root,
        "PYTHONPATH": os.pathsep.join([str(EXT), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp / "lab.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--IdentityProvider.token={token}", "--LabApp.extension_manager=readonly",
         f"--LabApp.app_settings_dir={settings}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.extra_labextensions_path={labexts}",
         "--ServerApp.jpserver_extensions=pacslab_jupyterlab=True",
         "--PacslabConfig.role=admin", "--PacslabExtension.start_dicom=True", "--PacslabExtension.dicom_port=0",
         f"--ServerApp.root_dir={work}"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if requests.get(f"{url}/api/status", params={"token": token}, timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start: " + (tmp / "lab.log").read_text()[-3000:])
        if proc.poll() is not None:
            pytest.fail("JupyterLab exited: " + (tmp / "lab.log").read_text()[-3000:])
        yield {"url": url, "token": token, "root": root, "ct": ct, "mr": mr, "upload": upload_file,
               "upload_study": str(upload[0].StudyInstanceUID), "log": tmp / "lab.log"}  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_server_extension_needs_jupyter_token(lab) -> None:
    url, auth = lab["url"], {"Authorization": f"token {lab['token']}"}
    # Without Jupyter's token every pacslab route is refused
    for path in ("/pacslab/api/status", "/pacslab/dicom-web/studies"):
        assert requests.get(url + path, timeout=10, allow_redirects=False).status_code == 403, path
    r = requests.post(url + "/pacslab/api/upload?filename=x.dcm", data=b"x", timeout=10, allow_redirects=False)
    assert r.status_code == 403
    r = requests.delete(url + "/pacslab/dicom-web/studies/1.2.3", timeout=10, allow_redirects=False)
    assert r.status_code == 403
    # With it, the status reports the DICOMweb mount and the DICOM service started inside Jupyter
    status = requests.get(url + "/pacslab/api/status", headers=auth, timeout=10).json()
    assert status["dicomweb"]["url"] == "/pacslab/dicom-web"
    assert status["dicom"]["running"] and status["dicom"]["port"] > 0, status
    assert status["role"] == "admin"
    from pacslab.dimse import echo

    assert echo((status["dicom"]["ae_title"], "127.0.0.1", status["dicom"]["port"])) >= 0


def _variance(png: bytes) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float).var())


def test_panel_in_browser(lab) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("PIL.Image")
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []

    def record(request) -> None:
        parsed = urlparse(request.url)
        if parsed.scheme not in ("data", "blob", "about") and parsed.hostname != "127.0.0.1":
            outside.append(request.url)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", record)
            page.goto(f"{lab['url']}/lab?reset&token={lab['token']}")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('pacslab:open-panel')",
                                   timeout=90_000)  # fmt: skip
            # the launcher card and palette commands are registered
            page.wait_for_selector(".jp-LauncherCard[title*='Browse the pacslab archive'], "
                                   ".jp-LauncherCard:has-text('PACS browser')", timeout=30_000)  # fmt: skip
            for cmd in ("pacslab:search", "pacslab:upload"):
                assert page.evaluate(f"window.jupyterapp.commands.hasCommand('{cmd}')")
            page.evaluate("window.jupyterapp.commands.execute('pacslab:open-panel')")
            panel = page.locator("#pacslab-panel")
            panel.wait_for(state="visible", timeout=30_000)
            # the demo studies are listed
            try:
                page.wait_for_selector("#pacslab-panel .pl-studies[data-count='2']", timeout=30_000)
            except sync_api.TimeoutError:
                pytest.fail("studies not listed; the panel shows: " + panel.inner_text())
            assert panel.locator(".pl-study").count() == 2
            page.wait_for_selector("#pacslab-panel .pl-status[data-dicom='running']", timeout=10_000)
            # a search narrows them
            panel.locator("input.pl-description").fill("CHEST")  # LO matching is case-sensitive in QIDO-RS
            panel.locator("button.pl-go").click()
            page.wait_for_selector("#pacslab-panel .pl-studies[data-count='1']", timeout=30_000)
            assert "CT CHEST" in panel.locator(".pl-study").inner_text()
            panel.locator("select.pl-modality").select_option("MR")
            panel.locator("input.pl-description").fill("")
            panel.locator("button.pl-go").click()
            page.wait_for_selector("#pacslab-panel .pl-studies[data-count='1']", timeout=30_000)
            first = "document.querySelector('#pacslab-panel .pl-study')"
            page.wait_for_function(f"{first}?.innerText?.includes('MR BRAIN')", timeout=30_000)
            panel.locator("select.pl-modality").select_option("")
            panel.locator("button.pl-go").click()
            page.wait_for_selector("#pacslab-panel .pl-studies[data-count='2']", timeout=30_000)
            # expanding a study shows its series with a thumbnail; View renders the frame
            panel.locator(".pl-study:has-text('CT CHEST') .pl-study-label").click()
            series = panel.locator(f".pl-series[data-uid='{lab['ct']}']")
            series.wait_for(timeout=30_000)
            page.wait_for_function(
                f"(() => {{ const i = document.querySelector(\".pl-series[data-uid='{lab['ct']}'] img.pl-thumb\");"
                " return i && i.complete && i.naturalWidth > 0; })()",
                timeout=30_000,
            )
            series.locator("button.pl-view").click()
            canvas = page.locator(".pacslab-frame canvas.pl-frame-canvas[data-rendered]")
            canvas.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "extension-panel.png"))
            assert _variance(canvas.screenshot(path=str(ARTIFACTS / "extension-frame.png"))) > 10, "blank frame"
            # uploading a DICOM file from the panel adds its study
            page.set_input_files("#pacslab-panel input.pl-file", str(lab["upload"]))
            page.wait_for_selector("#pacslab-panel .pl-progress[data-done='1']", timeout=60_000)
            page.wait_for_selector("#pacslab-panel .pl-studies[data-count='3']", timeout=30_000)
            assert panel.locator(f".pl-study[data-uid='{lab['upload_study']}']").count() == 1
            page.screenshot(path=str(ARTIFACTS / "extension-upload.png"))
            # "Notebook" opens a new notebook whose first cell opens the series in pacslab's viewer and runs it
            panel.locator(".pl-study:has-text('CT CHEST') .pl-study-label").click()  # the list was refreshed
            series = panel.locator(f".pl-series[data-uid='{lab['ct']}']")
            series.wait_for(timeout=30_000)
            series.locator("button.pl-notebook").click()
            page.wait_for_selector(".jp-Notebook .jp-Cell-inputArea:has-text('archive.view')", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .pacslab-viewer canvas.pl-canvas", timeout=90_000)
            page.screenshot(path=str(ARTIFACTS / "extension-notebook.png"))
            # the uploaded study is found by QIDO-RS; an admin deletes it from the panel
            auth = {"Authorization": f"token {lab['token']}", "Accept": "application/dicom+json"}
            qido = f"{lab['url']}/pacslab/dicom-web/studies"
            query = {"StudyInstanceUID": lab["upload_study"]}
            assert len(requests.get(qido, params=query, headers=auth, timeout=10).json()) == 1
            status = requests.get(f"{lab['url']}/pacslab/api/status", headers=auth, timeout=10).json()
            assert status["last_study"]["study"] == lab["upload_study"]
            page.on("dialog", lambda dialog: dialog.accept())
            panel.locator(f".pl-study[data-uid='{lab['upload_study']}'] button.pl-delete").click()
            page.wait_for_function(
                f"!document.querySelector(\".pl-study[data-uid='{lab['upload_study']}']\")", timeout=30_000
            )
            r = requests.get(qido, params=query, headers=auth, timeout=10)
            assert r.status_code == 204 or r.json() == [], r.text
        finally:
            browser.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"
