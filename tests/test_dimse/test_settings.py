"""DIMSE settings: defaults, the archive's pacslab.yaml, pacslab.config / environment, explicit overrides."""

from __future__ import annotations

import pytest
import yaml

import pacslab
from pacslab.dimse import DicomServer, DimseSettings, RemoteAE, resolve_remote


def test_defaults():
    s = DimseSettings.resolve()
    assert (s.ae_title, s.host, s.port) == ("PACSLAB", "127.0.0.1", 11112)
    assert s.tls is None and s.allowed_aes == ()


def test_precedence_archive_then_config_then_override():
    remotes = {"pacs": {"ae-title": "PACS", "host": "10.0.0.5", "port": 104}}
    archive_settings = {"dimse": {"ae-title": "ARCHIVE1", "port": 4000, "stable_delay": 2, "remotes": remotes}}
    s = DimseSettings.resolve(archive_settings)
    assert (s.ae_title, s.port, s.stable_delay) == ("ARCHIVE1", 4000, 2.0)
    assert s.remotes["pacs"] == RemoteAE("PACS", "10.0.0.5", 104, name="pacs")
    with pacslab.config.set({"dimse.ae-title": "FROMENV"}):
        assert DimseSettings.resolve(archive_settings).ae_title == "FROMENV"
        assert DimseSettings.resolve(archive_settings, ae_title="FLAG").ae_title == "FLAG"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("PACSLAB_DIMSE__AE_TITLE", "ENVAE")
    monkeypatch.setenv("PACSLAB_DIMSE__PORT", "4321")
    pacslab.config.refresh()
    try:
        s = DimseSettings.resolve({"dimse": {"ae-title": "ARCHIVE1"}})
        assert (s.ae_title, s.port) == ("ENVAE", 4321)
    finally:
        monkeypatch.undo()
        pacslab.config.refresh()


def test_server_reads_the_archive_config_file(tmp_path):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    config_path = tmp_path / "a" / "pacslab.yaml"
    settings = yaml.safe_load(config_path.read_text())
    settings["dimse"] = {"ae-title": "MYARCHIVE", "port": 0, "allowed-aes": ["FRIEND"]}
    config_path.write_text(yaml.safe_dump(settings))
    archive.close()
    with DicomServer(tmp_path / "a") as server:
        assert server.ae_title == "MYARCHIVE" and server.settings.allowed_aes == ("FRIEND",)
        assert server.port > 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dimse": {"ae-title": "A" * 17}}, "AE title"),
        ({"dimse": {"ae-title": "BAD\\AE"}}, "AE title"),
        ({"dimse": {"port": 70000}}, "port"),
        ({"dimse": {"nonsense": 1}}, "Unknown settings"),
        ({"dimse": {"tls": {"enabled": True, "certfile": "x"}}}, "Unknown dimse.tls"),
        ({"dimse": {"remotes": {"x": {"host": "h", "port": 1}}}}, "ae-title"),
    ],
)
def test_invalid_settings_raise(settings, message):
    with pytest.raises(ValueError, match=message):
        DimseSettings.resolve(settings)


def test_remote_forms():
    settings = DimseSettings.resolve({"dimse": {"remotes": {"pacs": {"ae-title": "PACS", "port": 104}}}})
    assert resolve_remote("pacs", settings).port == 104
    assert resolve_remote("ORTHANC@127.0.0.1:4242", settings) == RemoteAE("ORTHANC", "127.0.0.1", 4242)
    assert resolve_remote("X@[::1]:11112?tls", settings) == RemoteAE("X", "::1", 11112, tls=True)
    assert resolve_remote(("A", "h", 1), settings) == RemoteAE("A", "h", 1)
    with pytest.raises(ValueError, match="no remote AE named"):
        resolve_remote("unknown", settings)
