"""The start-up check: with moderation on, the packages and model files it needs are present.

Cheap on purpose (nothing is imported or loaded): the API process runs it before serving, and
each worker loads the models on its first job. Anything that still fails there fails that job
with `moderation_unavailable`, never passes it unchecked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reelforge.moderation.images import bundled_model
from reelforge.moderation.policy import Policy

HINT = (
    "install the moderation extra (pip install 'reelforge[moderation]'), "
    "or set enabled = false under [moderation] in the --catalog file"
)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def unavailable(policy: Policy) -> str | None:
    """What stops moderation from running as configured, or None."""
    problems = []
    if policy.needs_text and policy.text.threshold < 1.0:
        data = _package_dir("profanity_check")
        if data is None or importlib.util.find_spec("sklearn") is None:
            problems.append("the text classifier (alt-profanity-check) is not installed")
        elif not all((data / "data" / f).is_file() for f in ("model.joblib", "vectorizer.joblib")):
            problems.append(f"the text classifier's model files are missing from {data / 'data'}")
    if policy.needs_images:
        model = Path(policy.images.model) if policy.images.model else bundled_model()
        if importlib.util.find_spec("onnxruntime") is None:
            problems.append("onnxruntime is not installed")
        if model is None:
            problems.append("the image detector (nudenet) is not installed")
        elif not model.is_file():
            problems.append(f"the image detector's model file {model} does not exist")
    if not problems:
        return None
    return "moderation is on but " + "; ".join(problems) + f": {HINT}"
