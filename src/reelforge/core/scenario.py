"""Scenarios: failures a test asks for on purpose (`serve --scenarios`), parsed and checked.

A create request names one as `Reelforge-Scenario: <name>[; key=value...]` (REST header, gRPC
metadata `reelforge-scenario`, or the body field `reelforge_scenario`). The parsed scenario is
part of the job's spec, so whichever worker or replica handles the job honours it. What each
does is carried out where it belongs: `reject` and `flaky-poll` by the service, the rest by the
worker (jobs/scenarios.py). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reelforge.core.errors import INTERNAL_ERROR, invalid

HEADER = "Reelforge-Scenario"
METADATA_KEY = "reelforge-scenario"  # gRPC metadata keys are lower case
BODY_FIELD = "reelforge_scenario"  # for clients that cannot set headers
MAX_SECONDS = 3600.0

FAIL, MODERATE, EXPIRE, SLOW, STALL, REJECT, FLAKY_POLL = (
    "fail",
    "moderate",
    "expire",
    "slow",
    "stall",
    "reject",
    "flaky-poll",
)

# name -> {parameter: default}; a parameter's type is its default's.
PARAMETERS: dict[str, dict[str, Any]] = {
    FAIL: {"code": INTERNAL_ERROR, "message": "the render failed (scenario 'fail')"},
    MODERATE: {"at": "output"},  # input: blocked before rendering; output: after
    EXPIRE: {"after": 2.0},  # seconds after it is done
    SLOW: {"seconds": 10.0},  # how long the job renders, progress paced over it
    STALL: {},  # pending (rendering, progress 0) until cancelled
    REJECT: {"status": 429, "times": 2, "retry_after": 1.0},  # then it is accepted
    FLAKY_POLL: {"every": 2},  # every k-th poll of the job answers 503
}
CHOICES = {"at": ("input", "output"), "status": (429, 500, 503)}


@dataclass(frozen=True)
class Scenario:
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Scenario | None:
        return None if not raw else cls(raw["name"], dict(raw.get("params") or {}))


def parse(value: str, where: str = HEADER) -> Scenario:
    """`"fail; code=internal_error; message=boom"` -> Scenario; a 400 naming `where` otherwise."""
    name, *pairs = (part.strip() for part in value.split(";"))
    name = name.lower()
    if name not in PARAMETERS:
        raise invalid(where, f"unknown scenario {name!r}; scenarios: {', '.join(PARAMETERS)}")
    params = dict(PARAMETERS[name])
    for pair in filter(None, pairs):
        key, sep, raw = pair.partition("=")
        key = key.strip().lower()
        if not sep or key not in params:
            known = ", ".join(params) or "none"
            raise invalid(where, f"{name}: unknown parameter {pair!r}; parameters: {known}")
        params[key] = _value(where, name, key, raw.strip().strip('"'), params[key])
    return Scenario(name, params)


def _value(where: str, name: str, key: str, raw: str, default: Any) -> Any:
    what = f"{name}: {key}"
    try:
        value: Any = type(default)(raw) if not isinstance(default, str) else raw
    except ValueError:
        kind = "number" if isinstance(default, float) else "whole number"
        raise invalid(where, f"{what} must be a {kind}, got {raw!r}") from None
    if key in CHOICES and value not in CHOICES[key]:
        raise invalid(where, f"{what} must be one of {list(CHOICES[key])}, got {raw!r}")
    if isinstance(value, float) and not 0 <= value <= MAX_SECONDS:
        raise invalid(where, f"{what} must be between 0 and {MAX_SECONDS:g} seconds")
    if isinstance(value, int) and key in ("times", "every") and not 1 <= value <= 1000:
        raise invalid(where, f"{what} must be between 1 and 1000")
    if key == "code" and not value:
        raise invalid(where, f"{what} must not be empty")
    return value
