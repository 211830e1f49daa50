"""SIGKILL the server mid-render, start it again: every job finishes exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.helpers import create, wait_done


def test_jobs_survive_sigkill_and_complete_once(make_server, tmp_path):
    data = tmp_path / "durable"
    args = ("--workers", "2", "--lease-ttl", "2")
    srv = make_server(*args, data_dir=data)
    with srv.client() as c:
        ids = [
            create(c, {"prompt": f"job {n} orbit a red star", "duration": 6, "resolution": "720p"})
            for n in range(5)
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until something is mid-render
            if any(0 < c.get(f"/v1/videos/{i}").json().get("progress", 0) < 100 for i in ids):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no job started rendering")
    srv.kill()
    assert _group_gone(srv.proc.pid), "worker processes outlived the SIGKILLed server"

    again = make_server(*args, data_dir=data)
    with again.client() as c:
        results = [wait_done(c, i, timeout=240) for i in ids]
    assert [r["status"] for r in results] == ["done"] * 5
    videos = sorted(p.name for p in (data / "files" / "videos").glob("*.mp4"))
    assert len(videos) == 5 and {v[:36] for v in videos} == set(ids)  # one finished file per job


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    """True once no process is left in the server's process group (its workers included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _wait_rendering(c, request_id: str) -> None:
    deadline = time.monotonic() + 60
    while c.get(f"/v1/videos/{request_id}").json().get("progress", 0) == 0:
        assert time.monotonic() < deadline, "the job never started rendering"
        time.sleep(0.05)


def test_a_killed_worker_is_replaced_and_its_job_finishes(make_server):
    srv = make_server("--workers", "1", "--lease-ttl", "2")
    with srv.client() as c:
        request_id = create(
            c, {"prompt": "pan across a neon city", "duration": 6, "resolution": "720p"}
        )
        _wait_rendering(c, request_id)
        workers = [p for p in _children(srv.proc.pid) if "spawn_main" in _cmdline(p)]
        assert len(workers) == 1
        os.kill(workers[0], signal.SIGKILL)
        assert wait_done(c, request_id, timeout=120)["status"] == "done"
        assert wait_done(c, create(c, {"prompt": "a cat", "duration": 1}))["status"] == "done"
    replacement = [p for p in _children(srv.proc.pid) if "spawn_main" in _cmdline(p)]
    assert len(replacement) == 1 and replacement != workers


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
