"""Prompt moderation: the operator's blocked terms and patterns, then a trained classifier.

The classifier is alt-profanity-check's linear SVM (its model ships inside the PyPI package).
It scores bags of words, so one offensive word in a long, otherwise harmless prompt is diluted:
each sentence is scored on its own as well, and the worst score counts.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence

from reelforge.moderation.policy import TextPolicy

# Sentence and clause breaks, for scoring parts of a prompt separately.
_PARTS = re.compile(r"[.!?;:\n]+")


def normalize(text: str) -> str:
    """Compatibility forms folded (full-width letters, ligatures) and case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """Whole words only ("class" does not match "ass"), any run of spaces between the words
    of a term, and a plural s/es allowed."""
    if not terms:
        return None
    alternatives = sorted(
        (r"\s+".join(re.escape(word) for word in normalize(t).split()) for t in terms),
        key=len,
        reverse=True,
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?:e?s)?(?!\w)")


class TextModerator:
    def __init__(self, policy: TextPolicy, classifier: Callable | None = None):
        self.policy = policy
        self._terms = _term_pattern(policy.blocked_terms)
        self._classifier = classifier  # texts -> probabilities; loaded on first use
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._classifier is None and self.policy.threshold < 1.0:
                from profanity_check import profanity_check  # loads the model: ~1 s, once

                self._classifier = profanity_check.predict_prob

    def score(self, prompt: str) -> float:
        """The classifier's probability that the prompt is offensive: its worst sentence."""
        self.load()
        assert self._classifier is not None
        parts = [p.strip() for p in _PARTS.split(prompt) if p.strip()]
        texts = [prompt, *parts] if len(parts) > 1 else [prompt]
        return float(max(self._classifier(texts)))

    def check(self, prompt: str) -> str | None:
        """Why the prompt is blocked, or None when it passes."""
        if not prompt.strip():
            return None
        folded = normalize(prompt)
        if self._terms is not None and (hit := self._terms.search(folded)):
            return f"blocked term '{hit.group(0)}'"
        for n, pattern in enumerate(self.policy.blocked_patterns):
            if pattern.search(folded):
                return f"matches blocked_patterns[{n}]"
        if self.policy.threshold < 1.0:
            score = self.score(prompt)
            if score >= self.policy.threshold:
                return f"classifier score {score:.3f} >= {self.policy.threshold}"
        return None
