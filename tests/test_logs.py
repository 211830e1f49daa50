"""Log lines: JSON events with the request's fields; text lines that a client cannot forge."""

from __future__ import annotations

import json
import logging

from reelforge.core.logs import JsonFormatter, TextFormatter, request_fields, tag


def record(message: str, **fields) -> logging.LogRecord:
    rec = logging.LogRecord("reelforge.test", logging.INFO, __file__, 1, message, (), None)
    rec.fields = fields
    return rec


def test_json_events_carry_the_request_and_their_own_fields():
    token = request_fields.set({"request_id": "r1", "key": "alice"})
    try:
        tag(job_id="j1")
        line = JsonFormatter().format(record("job accepted", model="m"))
    finally:
        request_fields.reset(token)
    event = json.loads(line)
    assert event["event"] == "job accepted" and event["level"] == "info"
    assert (event["request_id"], event["key"], event["job_id"], event["model"]) == (
        "r1",
        "alice",
        "j1",
        "m",
    )


def test_text_fields_are_quoted_when_they_could_forge_a_line():
    line = TextFormatter().format(record("request", path="/v1/x\n2026 forged ERROR", status=200))
    assert "\n" not in line
    assert line.endswith(' path="/v1/x\\n2026 forged ERROR" status=200')
