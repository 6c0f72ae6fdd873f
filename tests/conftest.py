from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

import pacslab
import pacslab.catalog

# Tests that name the archive as a local folder (zarr/xarray on a plain path, subprocess CLIs,
# file-system layout checks): they run on the "local" backend only. node name prefix -> reason.
LOCAL_ONLY = {
    "test_ngff_metadata": "opens a volume with zarr.open_group by its local path (archive.root)",
    "test_xarray_engine": "opens the archive with xarray by archive.root, which lacks the s3:// scheme",
}


def _s3_available() -> str | None:
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        return f"the s3 backend needs moto[server] and s3fs (pip install -e '.[test]'): {exc}"
    return None


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A loopback S3 endpoint (moto server mode) with a bucket ``pacslab-test``; env vars point at it."""
    reason = _s3_available()
    if reason:
        pytest.skip(reason)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                           "AWS_DEFAULT_REGION")}  # fmt: skip
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir("pacslab-test")
    yield url
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session (Debian's binaries, 127.0.0.1 only, data in a temporary folder),
    with a template database that already holds the catalog schema."""
    from pacslab.testing.peers import PostgresServer, postgres_bindir

    if postgres_bindir() is None:
        pytest.skip("the postgres backend needs PostgreSQL's server binaries: apt-get install postgresql")
    server = PostgresServer()
    server.create_database("pacslab_template")
    pacslab.catalog.PostgresCatalog(server.url("pacslab_template")).close()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh PostgreSQL database with the catalog schema (dropped after the test)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name, template="pacslab_template")
    yield url
    postgres_server.drop_database(name)


# The archive-core suites run on every storage backend and on both catalog backends: "postgres" is
# a local archive whose catalog is in PostgreSQL. The rest keep the local archive only.
BACKEND_DIRS = ("test_storage", "test_ingest", "test_volumes", "test_catalog")
BACKENDS = ("local", "s3", "postgres")
# Module fixtures that make their own archive there take `catalog_url`: SQLite (None) or PostgreSQL.
CATALOGS = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    core = Path(str(metafunc.definition.path)).parent.name in BACKEND_DIRS
    if "archive" in metafunc.fixturenames and core:
        metafunc.parametrize("archive", BACKENDS, indirect=True)
    if "catalog_url" in metafunc.fixturenames and core:
        metafunc.parametrize("catalog_url", CATALOGS, indirect=True, scope="module")


@pytest.fixture(scope="module")
def catalog_url(request: pytest.FixtureRequest) -> str | None:
    """For module fixtures that make their own archive: ``None`` (the default SQLite catalog), or the URL
    of a fresh PostgreSQL database (archive-core suites run both, see BACKEND_DIRS)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    name = f"m_{uuid.uuid4().hex[:16]}"
    yield server.create_database(name, template="pacslab_template")
    server.drop_database(name)


@pytest.fixture
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> pacslab.Archive:
    """An empty archive: in a temporary folder ("local"), on the loopback S3 endpoint ("s3") under a
    fresh prefix with its catalog in tmp_path, or in a temporary folder with its catalog in a fresh
    PostgreSQL database ("postgres"); archive-core suites run all three, see BACKEND_DIRS."""
    backend = getattr(request, "param", "local")
    if backend in ("local", "postgres"):
        catalog = None
        if backend == "postgres":
            catalog = request.getfixturevalue("postgres_url")
        a = pacslab.open_archive(tmp_path / "archive", create=True, catalog=catalog)
        yield a
        a.close()
        return
    name = request.node.originalname
    for prefix, reason in LOCAL_ONLY.items():
        if name.startswith(prefix):
            pytest.skip(f"local only: {reason}")
    request.getfixturevalue("s3_endpoint")
    url = f"s3://pacslab-test/{uuid.uuid4().hex}"
    a = pacslab.open_archive(url, create=True, catalog=str(tmp_path / "catalog.sqlite"))
    yield a
    a.close()
    try:
        a.fs.rm(a.root, recursive=True)
    except FileNotFoundError:
        pass


@pytest.fixture
def memory_archive(request: pytest.FixtureRequest) -> pacslab.Archive:
    """An empty archive on fsspec's memory filesystem."""
    import fsspec

    name = f"memory://pacslab-test-{os.getpid()}-{request.node.name}"
    a = pacslab.open_archive(name, create=True)
    yield a
    a.close()
    fs = fsspec.filesystem("memory")
    fs.rm(name.removeprefix("memory://"), recursive=True)


def requires_command(name: str) -> pytest.MarkDecorator:
    """Skip unless an external command is installed (make test installs them on Debian)."""
    return pytest.mark.skipif(shutil.which(name) is None, reason=f"{name} is not installed (make test installs it)")
