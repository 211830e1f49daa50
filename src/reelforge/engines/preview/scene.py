"""What a prompt asks the preview engine for: a theme, a palette, subjects and a camera move.

Reading is pure and deterministic: recognised words decide what they can, and a stable hash of
the prompt (and seed) decides the rest, so every prompt gets its own look.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from reelforge.core.units import whole_number

from .palette import Palette, choose_palette, subject_colour

RGB = tuple[int, int, int]

# Subject kinds and the words that summon them.
SUBJECT_WORDS: dict[str, str] = {
    "cat": "cat",
    "kitten": "cat",
    "kitty": "cat",
    "dog": "dog",
    "puppy": "dog",
    "puppies": "dog",
    "fox": "dog",
    "bird": "bird",
    "seagull": "bird",
    "gull": "bird",
    "eagle": "bird",
    "parrot": "bird",
    "car": "car",
    "taxi": "car",
    "truck": "car",
    "bus": "car",
    "ball": "ball",
    "balloon": "ball",
    "person": "person",
    "man": "person",
    "woman": "person",
    "men": "person",
    "women": "person",
    "people": "person",
    "girl": "person",
    "boy": "person",
    "child": "person",
    "children": "person",
    "kid": "person",
    "dancer": "person",
    "runner": "person",
    "astronaut": "person",
    "robot": "robot",
    "android": "robot",
    "sun": "sun",
    "moon": "moon",
    "tree": "tree",
    "trees": "tree",
    "palm": "tree",
    "fish": "fish",
    "fishes": "fish",
    "shark": "fish",
    "whale": "fish",
    "dolphin": "fish",
    "star": "star",
    "stars": "star",
    "flower": "flower",
    "rose": "flower",
    "tulip": "flower",
    "house": "house",
    "cottage": "house",
    "cabin": "house",
    "castle": "house",
    "boat": "boat",
    "ship": "boat",
    "sailboat": "boat",
    "plane": "plane",
    "airplane": "plane",
    "jet": "plane",
    "aircraft": "plane",
    "cloud": "cloud",
    "clouds": "cloud",
    "butterfly": "butterfly",
    "butterflies": "butterfly",
    "bee": "butterfly",
    "rocket": "rocket",
    "spaceship": "rocket",
    "ufo": "rocket",
}
_PLURALS = {
    "people": 3,
    "men": 2,
    "women": 2,
    "children": 3,
    "puppies": 2,
    "butterflies": 2,
    "fishes": 3,
    "trees": 4,
    "stars": 6,
    "clouds": 3,
}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "pair": 2,
    "couple": 2,
    "few": 3,
    "several": 4,
    "many": 5,
    "flock": 5,
    "school": 4,
}
_MAX_PER_KIND = 6

# Themes decide the backdrop; the first recognised word wins, else the prompt's hash picks.
THEME_WORDS: dict[str, str] = {
    "ocean": "ocean",
    "sea": "ocean",
    "beach": "ocean",
    "waves": "ocean",
    "wave": "ocean",
    "lake": "ocean",
    "surf": "ocean",
    "coast": "ocean",
    "harbor": "ocean",
    "harbour": "ocean",
    "underwater": "underwater",
    "reef": "underwater",
    "aquarium": "underwater",
    "city": "city",
    "street": "city",
    "town": "city",
    "skyline": "city",
    "downtown": "city",
    "urban": "city",
    "cyberpunk": "city",
    "building": "city",
    "buildings": "city",
    "forest": "forest",
    "woods": "forest",
    "jungle": "forest",
    "desert": "desert",
    "dune": "desert",
    "dunes": "desert",
    "sand": "desert",
    "mountain": "mountains",
    "mountains": "mountains",
    "snow": "mountains",
    "alps": "mountains",
    "peak": "mountains",
    "glacier": "mountains",
    "space": "space",
    "galaxy": "space",
    "planet": "space",
    "nebula": "space",
    "cosmos": "space",
    "stars": "space",
    "abstract": "abstract",
    "dream": "abstract",
    "dreamy": "abstract",
    "pattern": "abstract",
    "field": "hills",
    "meadow": "hills",
    "hills": "hills",
    "park": "hills",
    "garden": "hills",
    "countryside": "hills",
    "farm": "hills",
}
THEMES = (
    "hills",
    "ocean",
    "underwater",
    "city",
    "forest",
    "desert",
    "mountains",
    "space",
    "abstract",
)

# Particles that drift over everything; weather words choose, else the theme's default.
WEATHER_WORDS: dict[str, str] = {
    "rain": "rain",
    "rainy": "rain",
    "raining": "rain",
    "storm": "rain",
    "stormy": "rain",
    "drizzle": "rain",
    "snow": "snow",
    "snowy": "snow",
    "snowing": "snow",
    "snowfall": "snow",
    "blizzard": "snow",
    "winter": "snow",
    "fire": "embers",
    "campfire": "embers",
    "embers": "embers",
    "sparks": "embers",
    "fireflies": "fireflies",
    "firefly": "fireflies",
    "magic": "fireflies",
    "bubbles": "bubbles",
    "bubble": "bubbles",
}
_THEME_PARTICLES = {
    "underwater": "bubbles",
    "space": "twinkle",
    "forest": "fireflies",
    "abstract": "motes",
    "city": "motes",
    "ocean": "spray",
    "hills": "motes",
    "desert": "dust",
    "mountains": "dust",
}


@dataclass(frozen=True)
class CameraMove:
    """The camera move a prompt asks for; several may combine ("zoom in and pan left")."""

    zoom: int = 0  # +1 in, -1 out
    pan_x: int = 0  # -1 left, +1 right
    pan_y: int = 0  # -1 up, +1 down
    orbit: bool = False
    shake: bool = False
    speed: float = 1.0  # "slow" halves the move, "fast" makes it bigger

    @property
    def is_static(self) -> bool:
        return not (self.zoom or self.pan_x or self.pan_y or self.orbit or self.shake)


@dataclass(frozen=True)
class Subject:
    kind: str
    count: int
    colour: RGB | None  # from a colour word just before it, else None (the kind's default)


@dataclass(frozen=True)
class Scene:
    theme: str
    palette: Palette
    subjects: tuple[Subject, ...]
    named_subjects: bool  # False when the subjects were picked by hash, not by the prompt
    camera: CameraMove
    camera_named: bool  # False when the prompt said nothing about the camera
    weather: str | None  # particles the prompt asked for ("rain", "snow", ...), if any
    particles: str  # the weather, else the theme's own (bubbles underwater, motes, ...)
    seed: int  # everything random in the clip draws from this


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (unlike hash())."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def tokenize(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", prompt.lower())


def read_prompt(prompt: str, seed: int, unwanted: str = "") -> Scene:
    """The scene a prompt asks for; words of `unwanted` (a negative prompt) are not drawn."""
    banned = {_kind_of(w) for w in tokenize(unwanted)}
    words = [w for w in tokenize(prompt) if _kind_of(w) not in banned]
    prompt_hash = stable_hash("prompt", prompt.strip().lower())
    seed_hash = stable_hash("seed", seed, prompt)
    theme = next((THEME_WORDS[w] for w in words if w in THEME_WORDS), None)
    if theme is None:
        theme = THEMES[prompt_hash % len(THEMES)] if words else "hills"
    palette = choose_palette(words, prompt_hash, seed_hash)
    subjects = _subjects(words)
    named = bool(subjects)
    if not subjects:
        subjects = _default_subjects(theme, seed_hash)
    camera, camera_named = read_camera(prompt)
    weather = next((WEATHER_WORDS[w] for w in words if w in WEATHER_WORDS), None)
    particles = weather or _THEME_PARTICLES.get(theme, "motes")
    if particles == "twinkle" and not palette.is_dark:
        particles = "motes"
    return Scene(
        theme, palette, tuple(subjects), named, camera, camera_named, weather, particles, seed_hash
    )


def _subjects(words: list[str]) -> list[Subject]:
    found: dict[str, Subject] = {}
    for i, word in enumerate(words):
        kind = SUBJECT_WORDS.get(word) or SUBJECT_WORDS.get(_singular(word))
        if kind is None:
            continue
        count = _count_before(words, i) or _PLURALS.get(word, 0)
        if not count:
            count = 2 if word not in SUBJECT_WORDS and _singular(word) in SUBJECT_WORDS else 1
        colour = None
        for back in (1, 2):  # "a red ball", "a big red ball"
            if i - back >= 0 and (colour := subject_colour(words[i - back])) is not None:
                break
        previous = found.get(kind)
        total = min(_MAX_PER_KIND, count + (previous.count if previous else 0))
        found[kind] = Subject(kind, total, colour or (previous.colour if previous else None))
    return list(found.values())


def _kind_of(word: str) -> str:
    """The subject a word names ("kittens" -> "cat"), else the word itself."""
    return SUBJECT_WORDS.get(word) or SUBJECT_WORDS.get(_singular(word)) or _singular(word)


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2] in SUBJECT_WORDS:
        return word[:-2]
    if word.endswith("s") and len(word) > 3:
        return word[:-1]
    return word


def _count_before(words: list[str], i: int) -> int:
    for back in (1, 2, 3):
        if i - back < 0:
            break
        word = words[i - back]
        if (count := whole_number(word)) is not None:
            return max(1, min(_MAX_PER_KIND, count))
        if word in _NUMBERS:
            return _NUMBERS[word]
    return 0


# What fills a scene when the prompt names nothing we can draw.
_THEME_SUBJECTS = {
    "hills": ("bird", "butterfly", "ball", "cloud", "tree"),
    "ocean": ("boat", "bird", "cloud", "fish"),
    "underwater": ("fish", "fish", "fish"),
    "city": ("car", "person", "plane"),
    "forest": ("bird", "butterfly", "tree"),
    "desert": ("bird", "sun", "car"),
    "mountains": ("bird", "plane", "cloud"),
    "space": ("rocket", "star", "moon"),
    "abstract": ("ball", "star", "butterfly", "cloud"),
}


def _default_subjects(theme: str, seed_hash: int) -> list[Subject]:
    options = _THEME_SUBJECTS[theme]
    first = options[seed_hash % len(options)]
    second = options[(seed_hash >> 8) % len(options)]
    subjects = [Subject(first, 1 + (seed_hash >> 16) % 2, None)]
    if second != first:
        subjects.append(Subject(second, 1 + (seed_hash >> 20) % 2, None))
    return subjects


_CAMERA_PATTERNS: tuple[tuple[str, dict[str, object]], ...] = (
    (r"\b(zoom(s|ed|ing)?|push(es|ed|ing)?|dolly|dollies|dollying)\s+in(to)?\b", {"zoom": 1}),
    (r"\b(close[- ]?up|closer)\b", {"zoom": 1}),
    (r"\bzoom(s|ed|ing)?\b(?!\s+(in|out))", {"zoom": 1}),
    (
        r"\b(zoom(s|ed|ing)?|pull(s|ed|ing)?|dolly|dollies|dollying)\s+(out|back|away)\b",
        {"zoom": -1},
    ),
    (r"\b(pan(s|ned|ning)?|track(s|ed|ing)?|truck(s|ing)?)\s+(to\s+the\s+)?left\b", {"pan_x": -1}),
    (r"\b(pan(s|ned|ning)?|track(s|ed|ing)?|truck(s|ing)?)\s+(to\s+the\s+)?right\b", {"pan_x": 1}),
    (
        r"\b(pan(s|ned|ning)?|tilt(s|ed|ing)?|crane(s|d)?|craning|pedestal)\s+up(wards?)?\b",
        {"pan_y": -1},
    ),
    (
        r"\b(pan(s|ned|ning)?|tilt(s|ed|ing)?|crane(s|d)?|craning|pedestal)\s+down(wards?)?\b",
        {"pan_y": 1},
    ),
    (r"\btilt(s|ed|ing)?\b(?!\s+(up|down))", {"pan_y": -1}),
    (
        r"\b(pan(s|ned|ning)?|tracking shot)\b(?!\s+(to\s+the\s+)?(left|right|up|down))",
        {"pan_x": 1},
    ),
    (
        (
            r"\b(orbit(s|ed|ing)?|circl(e|es|ed|ing)\s+(around|round)|rotat\w*|spin(s|ning)?|"
            r"revolv\w*|360)\b"
        ),
        {"orbit": True},
    ),
    (
        r"\b(shak(e|es|y|ing)|handheld|hand-held|earthquake|jitter\w*|wobbl\w*|shaking)\b",
        {"shake": True},
    ),
)
_STATIC = r"\b(static|still camera|locked[- ]off|tripod|fixed camera|stationary camera)\b"
_SLOW = r"\b(slow(ly)?|gentle|gently|subtle|calm|smooth(ly)?)\b"
_FAST = r"\b(fast|quick(ly)?|rapid(ly)?|swift(ly)?|dramatic)\b"


def read_camera(prompt: str) -> tuple[CameraMove, bool]:
    """The camera words of a prompt; the flag says whether it named any."""
    text = prompt.lower()
    fields: dict[str, object] = {}
    for pattern, values in _CAMERA_PATTERNS:
        if re.search(pattern, text):
            for key, value in values.items():
                fields.setdefault(key, value)
    named = bool(fields) or bool(re.search(_STATIC, text))
    if re.search(_FAST, text):
        fields["speed"] = 1.6
    elif re.search(_SLOW, text):
        fields["speed"] = 0.55
    if re.search(_STATIC, text):
        # A static camera wins over anything else the prompt says about it.
        return CameraMove(speed=float(fields.get("speed", 1.0))), True  # type: ignore[arg-type]
    return CameraMove(**fields), named  # type: ignore[arg-type]
