"""SIGKILL the server mid-render, start it again: every job finishes exactly once."""

from __future__ import annotations

import os
import time

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
