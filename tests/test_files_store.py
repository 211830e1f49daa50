"""The Files API's file table on SQLite and PostgreSQL (owner scoping, expiry by the janitor
with a moved clock)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from reelforge import files as files_module
from reelforge.core.errors import ApiError
from reelforge.files import FileStore
from reelforge.jobs import janitor
from reelforge.jobs.store import JobStore
from reelforge.storage.local import LocalStorage

# --- the file table ----------------------------------------------------------------------------


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
