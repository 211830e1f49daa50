"""The Files API's pieces: the streaming multipart reader, and the file table on SQLite and
PostgreSQL (owner scoping, expiry by the janitor with a moved clock)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from reelforge import files as files_module
from reelforge.api.multipart import read_form
from reelforge.core.errors import ApiError
from reelforge.files import FileStore
from reelforge.jobs import janitor
from reelforge.jobs.store import JobStore
from reelforge.storage.local import LocalStorage

PG_URL = os.environ.get(
    "REELFORGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CT = "multipart/form-data; boundary=XyZ"

# --- multipart ---------------------------------------------------------------------------------


def body(*parts: tuple[str, bytes], preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = preamble
    for headers, content in parts:
        out += b"--XyZ\r\n" + headers.encode() + b"\r\n\r\n" + content + b"\r\n"
    return out + b"--XyZ--\r\n" + epilogue


def field(name: str, value: bytes) -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"', value


def file_part(content: bytes, header: str = 'name="file"; filename="a.png"') -> tuple[str, bytes]:
    return f"Content-Disposition: form-data; {header}\r\nContent-Type: image/png", content


def read(raw: bytes, tmp_path: Path, chunk: int = 65536, max_file_bytes: int = 1 << 20, ct=CT):
    async def chunks():
        for i in range(0, len(raw), chunk):
            yield raw[i : i + chunk]

    return asyncio.run(
        read_form(chunks(), ct, file_field="file", tmp_dir=tmp_path, max_file_bytes=max_file_bytes)
    )


# Content with prefixes of the delimiter (a real one may not occur), CRLFs at the edges.
TRICKY = b"\r\n--XyA\r\n--Xy\r\n" + bytes(range(256)) * 40 + b"\r\n--Xy"


@pytest.mark.parametrize("chunk", [1, 7, 64, 65536])
def test_multipart_fields_and_file_in_any_chunking(tmp_path, chunk):
    raw = body(
        field("purpose", "vision ü".encode()),
        file_part(TRICKY),
        field("expires_after", b"3600"),
        preamble=b"ignored preamble\r\n",
        epilogue=b"ignored epilogue",
    )
    form = read(raw, tmp_path, chunk=chunk)
    assert form.fields == {"purpose": "vision ü", "expires_after": "3600"}
    assert form.file.filename == "a.png" and form.file.content_type == "image/png"
    assert form.file.path.read_bytes() == TRICKY and form.file.size == len(TRICKY)
    form.discard()
    assert list(tmp_path.iterdir()) == []


def test_multipart_filenames(tmp_path):
    raw = body(file_part(b"x", "name=\"file\"; filename*=UTF-8''caf%C3%A9.png"))
    assert read(raw, tmp_path).file.filename == "café.png"
    raw = body(file_part(b"x", 'name="file"; filename="caf\u00e9 \\"1\\".png"'))
    assert read(raw, tmp_path).file.filename == 'café "1".png'
    raw = body(file_part(b"x", 'name="file"'))
    assert read(raw, tmp_path).file.filename is None


@pytest.mark.parametrize(
    "raw,words",
    [
        (body(field("purpose", b"x"))[:-9], ["closing boundary"]),
        (body(("Content-Type: text/plain", b"x")), ["Content-Disposition"]),
        (body(file_part(b"1"), file_part(b"2")), ["one file"]),
        (body(field("purpose", b"x" * 70_000)), ["purpose", "65536"]),
        (body(*[field(f"f{i}", b"x") for i in range(40)]), ["parts"]),
        (b"--XyZ junk\r\n", ["delimiter"]),
    ],
)
def test_multipart_refusals(tmp_path, raw, words):
    with pytest.raises(ApiError) as err:
        read(raw, tmp_path, chunk=5)
    assert err.value.status == 400
    for word in words:
        assert word in err.value.message
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_multipart_file_cap_is_a_413_and_leaves_nothing(tmp_path):
    assert read(body(file_part(b"x" * 1000)), tmp_path, max_file_bytes=1000).file.size == 1000
    for f in tmp_path.iterdir():
        f.unlink()
    with pytest.raises(ApiError) as err:
        read(body(file_part(b"x" * 1001)), tmp_path, chunk=100, max_file_bytes=1000)
    assert err.value.status == 413
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ct", [None, "application/json", "multipart/form-data"])
def test_multipart_needs_a_boundary(tmp_path, ct):
    with pytest.raises(ApiError, match="boundary"):
        read(body(field("a", b"b")), tmp_path, ct=ct)


# --- the file table ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database():
    name = f"reelforge_files_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    jobs = JobStore(url)
    jobs.create_schema()  # creates the file table too
    with jobs.engine.begin() as conn:
        conn.execute(files_module.files.delete())
    storage = LocalStorage(tmp_path / "storage")
    yield jobs, storage, FileStore(jobs.engine, storage)
    jobs.dispose()


def temp_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"upload-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path


def test_files_are_scoped_to_their_owner(stores, tmp_path):
    _, storage, store = stores
    a = store.add("alice", temp_file(tmp_path, b"aaa"), filename="a.txt")
    b = store.add("bob", temp_file(tmp_path, b"bb"), filename=None, purpose="vision")
    assert storage.read_bytes(a.key) == b"aaa" and a.bytes == 3 and a.expires_at is None
    assert (b.filename, b.purpose) == ("file", "vision")
    assert store.get("alice", a.id) == a and store.get("bob", a.id) is None
    assert [f.id for f in store.list("alice")] == [a.id]
    assert store.delete("bob", a.id) is False and storage.exists(a.key)
    assert store.delete("alice", a.id) is True and not storage.exists(a.key)
    assert store.get("alice", a.id) is None and store.delete("alice", a.id) is False
    with pytest.raises(ApiError) as err:
        store.require("alice", b.id, "image.file_id")
    assert err.value.status == 404 and "image.file_id" in err.value.message


def test_janitor_removes_expired_files(stores, tmp_path, monkeypatch):
    jobs, storage, store = stores
    short = store.add("o", temp_file(tmp_path, b"1"), filename="1", expires_after=3600)
    long = store.add("o", temp_file(tmp_path, b"2"), filename="2", expires_after="7200")
    kept = store.add("o", temp_file(tmp_path, b"3"), filename="3")
    assert short.expires_at == pytest.approx(short.created_at + 3600)
    janitor.sweep(jobs, storage, retention=60)
    assert {f.id for f in store.list("o")} == {short.id, long.id, kept.id}

    later = short.expires_at + 1
    monkeypatch.setattr(files_module, "time", SimpleNamespace(time=lambda: later))
    assert store.get("o", short.id) is None  # reads gone before the janitor comes by
    assert storage.exists(short.key)
    janitor.sweep(jobs, storage, retention=60)
    assert not storage.exists(short.key)
    assert {f.id for f in store.list("o")} == {long.id, kept.id}
    assert storage.exists(long.key) and storage.exists(kept.key)

    much_later = long.expires_at + 1
    monkeypatch.setattr(files_module, "time", SimpleNamespace(time=lambda: much_later))
    janitor.sweep(jobs, storage, retention=60)
    assert [f.id for f in store.list("o")] == [kept.id] and not storage.exists(long.key)


@pytest.mark.parametrize("value", [3599, 2_592_001, "soon", True, 3600.5])
def test_expires_after_range(stores, tmp_path, value):
    _, _, store = stores
    with pytest.raises(ApiError, match="expires_after"):
        store.add("o", temp_file(tmp_path, b"x"), filename="x", expires_after=value)
    assert store.list("o") == []


def test_storage_copy_is_independent_of_its_source(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put_bytes("files/a", b"contents")
    storage.copy("files/a", "inputs/job/0")
    storage.delete("files/a")
    assert storage.read_bytes("inputs/job/0") == b"contents"
    with pytest.raises(FileNotFoundError):
        storage.copy("files/a", "inputs/job/1")
