"""pacslab imports pydicom without ``requests`` and ``tqdm``; the stand-ins pydicom holds import them on first use,
and pacslab imports tqdm only to show a progress bar."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from pacslab._deferred import _DeferredModule, deferred_imports


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_import_pacslab_leaves_requests_and_tqdm_unloaded() -> None:
    modules = "('requests', 'urllib3', 'tqdm', 'pydicom')"
    loaded = _run(f"import sys, pacslab\nprint(*(m in sys.modules for m in {modules}))")
    assert loaded == ["False", "False", "False", "True"], "import pacslab loaded requests or tqdm"


def test_tqdm_is_imported_to_show_a_progress_bar_only(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    code = (
        "import sys, pacslab\n"
        f"archive = pacslab.open_archive({str(tmp_path / 'a')!r}, create=True)\n"
        f"archive.ingest({str(tmp_path / 'empty')!r}, progress=False)\n"
        "print('tqdm' in sys.modules)\n"
        "from pacslab._progress import progress_bar\n"
        "bar = progress_bar(2, unit='file', desc='test', show=True)\n"
        "bar.update(2)\n"
        "print(type(bar).__module__.split('.')[0], bar.n)\n"
        "bar.close()\n"
        "import pydicom.data.download as d\n"
        "print(d.tqdm.tqdm.__module__)"  # pydicom's stand-in gives the real module
    )
    assert _run(code) == ["False", "tqdm", "2", "tqdm.std"]


def test_the_stand_in_pydicom_holds_loads_requests_on_first_use() -> None:
    code = (
        "import sys, pacslab, pydicom.data.download as d\n"
        "print(type(d.requests).__name__, 'urllib3' in sys.modules)\n"
        "session = d.requests.Session\n"  # first use: the real module is imported
        "import requests\n"
        "print(type(requests) is type(sys), session is requests.Session, d.requests.get is requests.get)\n"
        "import requests.adapters\n"
        "print(requests.adapters.HTTPAdapter.__module__)"
    )
    assert _run(code) == ["_DeferredModule", "False", "True", "True", "True", "requests.adapters"]


def test_code_importing_after_the_block_gets_the_real_module() -> None:
    code = "import pacslab, requests, types\nprint(type(requests) is types.ModuleType, hasattr(requests, 'get'))"
    assert _run(code) == ["True", "True"]


@pytest.fixture
def fake_module(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A top-level module that records being imported, on a fresh sys.path entry."""
    (tmp_path / "pacslab_fake_dep.py").write_text("import sys\nsys.pacslab_fake_loads += 1\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "pacslab_fake_loads", 0, raising=False)
    yield "pacslab_fake_dep"
    sys.modules.pop("pacslab_fake_dep", None)


def test_block_binds_a_stand_in_and_the_first_attribute_loads_once(fake_module: str) -> None:
    with deferred_imports(fake_module):
        import pacslab_fake_dep as held  # type: ignore[import-not-found]

        assert isinstance(held, _DeferredModule) and sys.pacslab_fake_loads == 0  # type: ignore[attr-defined]
    assert fake_module not in sys.modules  # unused: taken out, a later import gets the real module
    assert held.VALUE == 42 and held.VALUE == 42
    assert sys.pacslab_fake_loads == 1  # type: ignore[attr-defined]
    real = sys.modules[fake_module]
    assert type(real) is types.ModuleType and real.VALUE == 42


def test_already_imported_or_missing_modules_are_left_alone(fake_module: str) -> None:
    import pacslab_fake_dep  # noqa: F401

    with deferred_imports(fake_module, "pacslab_no_such_module"):
        assert type(sys.modules[fake_module]) is types.ModuleType
        assert "pacslab_no_such_module" not in sys.modules
    with pytest.raises(ValueError, match="top-level"):
        with deferred_imports("os.path"):
            pass


def test_import_pacslab_scans_the_installed_packages_for_plugins_once() -> None:
    code = (
        "import importlib.metadata as m\n"
        "scans, distributions = [], m.distributions\n"
        "m.distributions = lambda *a, **k: scans.append(1) or distributions(*a, **k)\n"
        "import pacslab, fsspec, numcodecs.registry, pylibjpeg\n"
        "print(len(scans), m.entry_points.__module__)"
    )
    assert _run(code) == ["1", "importlib.metadata"]  # pylibjpeg (3), fsspec and numcodecs would make five


def test_one_scan_answers_as_entry_points_does(monkeypatch) -> None:
    import importlib.metadata

    from pacslab._deferred import one_entry_point_scan

    original = importlib.metadata.entry_points
    groups = ("console_scripts", "fsspec.specs", "numcodecs.codecs", "no.such.group")
    expected = {group: sorted(original(group=group)) for group in groups}
    scans: list[int] = []
    distributions = importlib.metadata.distributions
    monkeypatch.setattr(importlib.metadata, "distributions", lambda *a, **k: scans.append(1) or distributions(*a, **k))
    with one_entry_point_scan():
        bound = importlib.metadata.entry_points  # as `from importlib.metadata import entry_points` binds it
        assert {group: sorted(bound(group=group)) for group in groups} == expected
        assert sorted(bound().select(group="fsspec.specs")) == expected["fsspec.specs"]
        assert sorted(bound(group="console_scripts", name="pacslab")) == [
            ep for ep in expected["console_scripts"] if ep.name == "pacslab"
        ]
        assert len(scans) == 1
    assert importlib.metadata.entry_points is original
    assert sorted(bound(group="fsspec.specs")) == expected["fsspec.specs"] and len(scans) == 2  # a new scan after
