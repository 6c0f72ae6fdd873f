"""Access: tokens and roles (401 / 403), anonymous access only when enabled, CORS, the token CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dicomweb_helpers import Served

import pacslab
from pacslab.cli.main import main
from pacslab.dicomweb import DicomwebServer, RoleValues, TokenStore
from pacslab.dicomweb.auth import Principal


def test_no_token_is_401(served: Served) -> None:
    r = requests.get(f"{served.url}/studies")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in r.json()["message"]


@pytest.mark.parametrize("header", ["Bearer pl_not-a-token", "Basic dXNlcjpwdw==", "Bearer"])
def test_bad_token_is_401(served: Served, header: str) -> None:
    r = requests.get(f"{served.url}/studies", headers={"Authorization": header})
    assert r.status_code == 401


def test_denied_requests_are_audited(served: Served) -> None:
    requests.get(f"{served.url}/series")
    log = served.archive.audit_log()
    row = log[log["action"] == "access"].iloc[-1]
    assert row["outcome"] == "denied" and row["detail"].endswith("/dicom-web/series")


def test_read_token_cannot_store_or_delete(served: Served) -> None:
    study = served.archive.studies()["StudyInstanceUID"].iloc[0]
    r = requests.post(f"{served.url}/studies", data=b"--x--\r\n",
                      headers={**served.headers("read"), "Content-Type": "multipart/related; boundary=x"})  # fmt: skip
    assert r.status_code == 403
    assert "write" in r.json()["message"]
    assert requests.delete(f"{served.url}/studies/{study}", headers=served.headers("read")).status_code == 403
    assert requests.delete(f"{served.url}/studies/{study}", headers=served.headers("write")).status_code == 403
    assert served.archive.catalog.count("studies", {"StudyInstanceUID": study}) == 1


def test_method_not_allowed(served: Served) -> None:
    r = requests.put(f"{served.url}/studies", headers=served.headers("admin"))
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"]


def test_roles_order() -> None:
    assert RoleValues.ADMIN.allows("write") and RoleValues.WRITE.allows("read")
    assert not RoleValues.READ.allows(RoleValues.WRITE)
    with pytest.raises(ValueError):
        RoleValues("root")


def test_tokens_are_stored_hashed_and_revocable(archive: pacslab.Archive) -> None:
    store = TokenStore(archive, cache_seconds=0)
    token = store.create("alice", "write")
    assert store.authenticate(token).role is RoleValues.WRITE
    with archive.catalog.transaction() as db:
        stored = [r[0] for r in db.execute("SELECT token_sha256 FROM tokens")]
    assert token not in stored and all(len(s) == 64 for s in stored)
    assert store.revoke("alice") == 1
    with pytest.raises(PermissionError):
        store.authenticate(token)


@pytest.fixture
def anonymous(tmp_path: Path) -> Iterator[DicomwebServer]:
    archive = pacslab.open_archive(tmp_path / "anon", create=True)
    server = DicomwebServer(archive, port=0, allow_anonymous=True, cors_origins=["http://viewer.example"],
                            stable_delay=None).start()  # fmt: skip
    yield server
    server.stop()
    archive.close()


def test_anonymous_only_when_enabled_and_read_only(anonymous: DicomwebServer) -> None:
    assert requests.get(f"{anonymous.url}/studies").json() == []
    r = requests.post(f"{anonymous.url}/studies", data=b"", headers={"Content-Type": "multipart/related; boundary=x"})
    assert r.status_code == 403


def test_cors(anonymous: DicomwebServer) -> None:
    r = requests.options(f"{anonymous.url}/studies", headers={"Origin": "http://viewer.example",
                                                              "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "http://viewer.example"
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    r = requests.get(f"{anonymous.url}/studies", headers={"Origin": "http://viewer.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://viewer.example"
    r = requests.get(f"{anonymous.url}/studies", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_token_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pacslab.open_archive(tmp_path / "a", create=True).close()
    assert main(["token", "create", str(tmp_path / "a"), "--role", "admin", "--name", "ops"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("pl_")
    with pacslab.open_archive(tmp_path / "a") as archive:
        assert TokenStore(archive).authenticate(token).role is RoleValues.ADMIN
    assert main(["token", "list", str(tmp_path / "a"), "--json"]) == 0
    listed = capsys.readouterr().out
    assert "ops" in listed and token not in listed


def test_cached_tokens_skip_the_catalog_until_revoked(archive: pacslab.Archive) -> None:
    """The server answers a recently checked token without a catalog trip; revoking clears that at once."""
    store = TokenStore(archive, cache_seconds=60)
    token = store.create("bob", "read")
    assert store.cached(token) is None  # never checked yet
    assert store.authenticate(token) == store.cached(token) == Principal("bob", RoleValues.READ)
    assert store.cached(token + "x") is None
    store.revoke("bob")
    assert store.cached(token) is None
    with pytest.raises(PermissionError):
        store.authenticate(token)
