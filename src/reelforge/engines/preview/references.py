"""Reference-to-video: how a prompt's `<IMAGE_n>` placeholders direct the reference images.

Every reference image (1 to 7) appears in the clip as a framed card, fully on screen and at least
a sixth of the frame high (cards.py draws them). The prompt ties phrases to references with
placeholders, and this module reads them; everything here is pure and deterministic.

Numbering. `<IMAGE_n>` (case-insensitive) names a reference. The base is decided per prompt: if
any `<IMAGE_0>` appears, the prompt counts from 0, otherwise from 1. So `<IMAGE_1>` is the first
reference in "<IMAGE_1> and <IMAGE_2>" but the second in "<IMAGE_0> and <IMAGE_1>". A placeholder
whose index is outside the list is ignored.

What a mention does:

- Order. References appear in the order the prompt first mentions them, then the unmentioned ones
  in list order. Long clips show them in turns (shots of at least 1.5 s, so each card is fully on
  screen for over a second); a clip too short for turns shows them all at once, in that order
  (reading order of the grid).
- Prominence. The first-mentioned reference is the lead: its card is the largest and drawn in
  front; other mentioned references come next; unmentioned ones are the smallest.
- Screen time. A shot's length grows with its references' weights: unmentioned 1, mentioned
  once 2, twice or more 3.
- Motion. The words after a placeholder, up to the next placeholder or the end of the sentence,
  decide how its card moves within its place: "walks left" / "to the left" slides it left, "right"
  right; "up", "rises", "climbs" up; "down", "falls", "sinks" down; "approaches", "closer",
  "grows" make it grow, "recedes", "away", "shrinks" shrink; "bounces", "jumps", "dances" bounce;
  "spins", "shakes", "turns" wobble; "sits", "stands", "waits", "still" keep it still. A travel
  verb without a direction ("walks", "drives", "flies") goes left or right as the prompt's hash
  says. Anything else, and every unmentioned reference, drifts gently. The first word that says
  something wins, except that a direction word anywhere in the phrase beats a bare travel verb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .scene import stable_hash, tokenize

_PLACEHOLDER = re.compile(r"<\s*image[_ ]?(\d+)\s*>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?;\n]")

# Motions: (name, dx, dy) where the name says how the card moves and dx/dy which way it slides.
# Words that say where: they beat a bare travel verb anywhere in the phrase ("walks ... left").
_DIRECTIONS: dict[str, tuple[str, int, int]] = {
    **dict.fromkeys(("left", "leftward", "leftwards", "westward"), ("slide", -1, 0)),
    **dict.fromkeys(("right", "rightward", "rightwards", "eastward"), ("slide", 1, 0)),
    **dict.fromkeys(("up", "upward", "upwards", "skyward"), ("slide", 0, -1)),
    **dict.fromkeys(("down", "downward", "downwards"), ("slide", 0, 1)),
    **dict.fromkeys(("closer", "toward", "towards", "nearer", "forward"), ("grow", 0, 0)),
    **dict.fromkeys(("away", "distance", "backward", "backwards"), ("shrink", 0, 0)),
}
_VERBS: dict[str, tuple[str, int, int]] = {
    **dict.fromkeys(
        ("rise", "rises", "rising", "climb", "climbs", "climbing", "ascend", "ascends"),
        ("slide", 0, -1),
    ),
    **dict.fromkeys(
        ("lift", "lifts", "soar", "soars", "soaring", "float", "floats", "floating"),
        ("slide", 0, -1),
    ),
    **dict.fromkeys(
        ("fall", "falls", "falling", "drop", "drops", "sink", "sinks", "sinking", "descends"),
        ("slide", 0, 1),
    ),
    **dict.fromkeys(
        ("approach", "approaches", "approaching", "grow", "grows", "growing", "enlarges"),
        ("grow", 0, 0),
    ),
    **dict.fromkeys(
        ("recede", "recedes", "receding", "shrink", "shrinks", "shrinking", "retreats"),
        ("shrink", 0, 0),
    ),
    **dict.fromkeys(
        ("bounce", "bounces", "bouncing", "jump", "jumps", "jumping", "hop", "hops", "hopping"),
        ("bounce", 0, 0),
    ),
    **dict.fromkeys(
        ("dance", "dances", "dancing", "leap", "leaps", "leaping", "skip", "skips"),
        ("bounce", 0, 0),
    ),
    **dict.fromkeys(
        ("spin", "spins", "spinning", "shake", "shakes", "shaking", "turn", "turns", "turning"),
        ("wobble", 0, 0),
    ),
    **dict.fromkeys(
        ("rotate", "rotates", "rotating", "wobble", "wobbles", "wiggles", "vibrates"),
        ("wobble", 0, 0),
    ),
    **dict.fromkeys(
        ("sit", "sits", "sitting", "stand", "stands", "standing", "wait", "waits", "waiting"),
        ("still", 0, 0),
    ),
    **dict.fromkeys(
        ("rest", "rests", "resting", "still", "stays", "sleeps", "sleeping", "poses", "static"),
        ("still", 0, 0),
    ),
    **dict.fromkeys(
        ("walk", "walks", "walking", "run", "runs", "running", "drive", "drives", "driving"),
        ("travel", 0, 0),
    ),
    **dict.fromkeys(
        ("fly", "flies", "flying", "swim", "swims", "swimming", "move", "moves", "moving"),
        ("travel", 0, 0),
    ),
    **dict.fromkeys(
        ("roll", "rolls", "rolling", "glide", "glides", "race", "races", "racing", "crawls"),
        ("travel", 0, 0),
    ),
    **dict.fromkeys(
        ("sail", "sails", "sailing", "march", "marches", "strolls", "wanders", "heads", "goes"),
        ("travel", 0, 0),
    ),
}


@dataclass(frozen=True)
class Mention:
    """One placeholder in a prompt."""

    reference: int  # 0-based index into reference_images
    start: int  # the placeholder's span in the prompt
    end: int
    phrase: str  # the words after it, up to the next placeholder or the end of the sentence


@dataclass(frozen=True)
class Role:
    """What the prompt makes of one reference image."""

    reference: int  # 0-based index into reference_images
    order: int  # 0 appears first (and is the lead when mentioned)
    mentions: int
    motion: str  # "slide", "grow", "shrink", "bounce", "wobble", "still" or "drift"
    dx: int  # direction of a slide: -1 left, +1 right
    dy: int  # -1 up, +1 down

    @property
    def weight(self) -> int:
        """Screen-time weight: unmentioned 1, mentioned once 2, more often 3."""
        return 1 + min(self.mentions, 2)

    @property
    def prominence(self) -> int:
        """2 for the lead, 1 for other mentioned references, 0 for the rest."""
        if not self.mentions:
            return 0
        return 2 if self.order == 0 else 1


def placeholders(prompt: str, count: int) -> list[Mention]:
    """The `<IMAGE_n>` placeholders of `prompt` that name one of `count` references, in order.

    The prompt counts from 0 if it contains `<IMAGE_0>` anywhere, else from 1; placeholders
    outside 0..count-1 after that are dropped.
    """
    found = list(_PLACEHOLDER.finditer(prompt))
    if not found:
        return []
    base = 0 if any(int(m.group(1)) == 0 for m in found) else 1
    mentions: list[Mention] = []
    for k, match in enumerate(found):
        reference = int(match.group(1)) - base
        if not 0 <= reference < count:
            continue
        stop = found[k + 1].start() if k + 1 < len(found) else len(prompt)
        sentence = _SENTENCE_END.search(prompt, match.end(), stop)
        if sentence is not None:
            stop = sentence.start()
        phrase = " ".join(prompt[match.end() : stop].split()).lower()
        mentions.append(Mention(reference, match.start(), match.end(), phrase))
    return mentions


def strip_placeholders(prompt: str) -> str:
    """The prompt without its placeholders, for reading the scene (so `<IMAGE_2> cat` is not two
    cats)."""
    return _PLACEHOLDER.sub(" ", prompt)


def motion_of(phrase: str) -> tuple[str, int, int]:
    """How a card moves, from the words after its placeholder: (motion, dx, dy).

    The motion is "slide" (with dx, dy), "travel" (a slide whose direction is not said),
    "grow", "shrink", "bounce", "wobble", "still" or "drift" (nothing said)."""
    words = tokenize(phrase)
    said = [_DIRECTIONS.get(w) or _VERBS[w] for w in words if w in _DIRECTIONS or w in _VERBS]
    if not said:
        return ("drift", 0, 0)
    direction = next((_DIRECTIONS[w] for w in words if w in _DIRECTIONS), None)
    if said[0][0] == "travel" and direction is not None:
        return direction
    return said[0]


def direct(prompt: str, count: int) -> tuple[Role, ...]:
    """One Role per reference (in list order), read from the prompt's placeholders."""
    mentions = placeholders(prompt, count)
    first: dict[int, int] = {}
    times: dict[int, int] = {}
    motion: dict[int, tuple[str, int, int]] = {}
    for position, mention in enumerate(mentions):
        ref = mention.reference
        first.setdefault(ref, position)
        times[ref] = times.get(ref, 0) + 1
        said = motion_of(mention.phrase)
        if ref not in motion or (motion[ref][0] == "drift" and said[0] != "drift"):
            motion[ref] = said
    ranked = sorted(range(count), key=lambda r: (r not in first, first.get(r, 0), r))
    roles: list[Role] = []
    for ref in range(count):
        name, dx, dy = motion.get(ref, ("drift", 0, 0))
        if name == "travel":
            name, dx = "slide", (1 if stable_hash("travel", prompt, ref) % 2 else -1)
        roles.append(Role(ref, ranked.index(ref), times.get(ref, 0), name, dx, dy))
    return tuple(roles)
