"""Procedural soundtracks: a prompt and a seed become a short stereo piece, deterministically.

Words in the prompt pick ambience (rain, ocean, wind, city, birds, fire) and the feel of the
music (key, mode, tempo, drums); a hash of the prompt picks the rest, so different prompts sound
different and the same prompt and seed always sound the same. Everything is vectorised numpy.

Voices (the request's `reference_audios` voice ids) add speech-like dialogue over the bed: each
voice babbles syllables through vowel formants (a source-filter model: a sawtooth glottal source,
breath noise and consonant hiss, shaped frame by frame in the frequency domain), with a pitch,
vocal-tract length, breathiness, brightness, speaking rate and place in the stereo field of its
own. Known ids have fixed characters (ara, eve and una higher, leo, rex and sal lower; rex the
deepest, eve the breathiest); any other id gets one from its hash. Several voices take turns,
in the order the prompt first names them as `<AUDIO_0>`, `<AUDIO_1>`... (0-based, in list order)
and then in list order. With voices the bed sits lower in the mix, under the dialogue.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reelforge.engines.base import AUDIO_RATE

_TAU = 2.0 * np.pi

# Scale degrees (semitones above the key's root) of the chords in a few common progressions.
_PROGRESSIONS: tuple[tuple[int, ...], ...] = (
    (0, 7, 9, 5),  # I V vi IV
    (0, 5, 7, 5),  # I IV V IV
    (9, 5, 0, 7),  # vi IV I V
    (0, 9, 5, 7),  # I vi IV V
    (0, 3, 5, 7),  # i bIII iv v, for minor keys too
)
_MAJOR = (0, 4, 7, 12)
_MINOR = (0, 3, 7, 12)

_RAIN = {"rain", "rainy", "raining", "drizzle", "storm", "stormy", "thunder", "shower"}
_OCEAN = {"ocean", "sea", "wave", "waves", "beach", "surf", "shore", "underwater", "river"}
_WIND = {"wind", "windy", "breeze", "storm", "snow", "blizzard", "desert", "mountain", "sky"}
_CITY = {"city", "street", "traffic", "car", "cars", "urban", "downtown", "highway", "neon"}
_BIRDS = {"bird", "birds", "forest", "jungle", "garden", "spring", "morning", "park", "tree"}
_FIRE = {"fire", "campfire", "fireplace", "flame", "flames", "burning"}
_BEAT = {
    "music",
    "song",
    "dance",
    "dancing",
    "party",
    "concert",
    "club",
    "beat",
    "drum",
    "drums",
    "band",
    "festival",
    "disco",
    "rave",
    "hiphop",
}
_DARK = {
    "night",
    "dark",
    "sad",
    "rain",
    "rainy",
    "storm",
    "horror",
    "spooky",
    "moon",
    "noir",
    "mystery",
    "space",
}
_FAST = {
    "run",
    "running",
    "race",
    "racing",
    "chase",
    "fast",
    "action",
    "dance",
    "party",
    "city",
    "car",
    "sport",
    "fight",
}
_SLOW = {
    "calm",
    "slow",
    "sleep",
    "peaceful",
    "ocean",
    "night",
    "dream",
    "float",
    "snow",
    "meditation",
    "sunset",
}


def procedural_audio(
    prompt: str, seed: int, duration_s: float, voices: Sequence[str] = ()
) -> np.ndarray:
    """Stereo float32 samples in [-1, 1], shape (round(duration_s * 48000), 2).

    `voices`: voice ids (case-insensitive) that speak over the track; none, no speech."""
    n = max(0, round(duration_s * AUDIO_RATE))
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    digest = hashlib.blake2b(f"{seed}\x00{prompt}".encode(), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE

    ambient = words & (_RAIN | _OCEAN | _WIND | _CITY | _BIRDS | _FIRE)
    mix = np.zeros((n, 2))
    # A quiet coloured-noise floor under everything: the track is never silent.
    mix += 0.03 * _shaped_noise(rng, n, low_hz=80, high_hz=6000, tilt=-1.0)
    mix += (0.35 if ambient else 0.6) * _music(rng, words, t)
    if words & _RAIN:
        mix += 0.35 * _shaped_noise(rng, n, low_hz=800, high_hz=12000, tilt=-0.3)
        mix += 0.25 * _droplets(rng, n)
    if words & _OCEAN:
        swell = _slow_swell(rng, t, rate_hz=rng.uniform(0.07, 0.14))
        mix += 0.6 * _shaped_noise(rng, n, low_hz=60, high_hz=2500, tilt=-1.5) * swell
    if words & _WIND:
        gust = _slow_swell(rng, t, rate_hz=rng.uniform(0.15, 0.35))
        mix += 0.35 * _shaped_noise(rng, n, low_hz=200, high_hz=1500, tilt=-0.5) * gust
    if words & _CITY:
        mix += 0.4 * _shaped_noise(rng, n, low_hz=30, high_hz=250, tilt=-1.0)
        mix += 0.15 * _horns(rng, t)
    if words & _BIRDS:
        mix += 0.2 * _chirps(rng, n)
    if words & _FIRE:
        mix += 0.3 * _shaped_noise(rng, n, low_hz=100, high_hz=900, tilt=-1.0)
        mix += 0.3 * _droplets(rng, n, per_second=25.0, ring_hz=(1500, 4000))

    peak = float(np.max(np.abs(mix)))
    mix *= 0.8 / peak if peak > 0 else 1.0
    if voices:
        speech = speech_layer(prompt, seed, [v.lower() for v in voices], n)
        mix = _BED_UNDER_SPEECH * mix + _SPEECH_LEVEL * speech
        peak = float(np.max(np.abs(mix)))
        if peak > 0.95:
            mix *= 0.95 / peak
    # Short fades so the clip neither starts nor ends on a click.
    fade = min(n // 2, AUDIO_RATE // 50)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)[:, None]
        mix[:fade] *= ramp
        mix[n - fade :] *= ramp[::-1]
    return np.clip(mix, -1.0, 1.0).astype(np.float32)


def _music(rng: np.random.Generator, words: set[str], t: np.ndarray) -> np.ndarray:
    """A chord pad, an arpeggio and (for lively prompts) drums, in a key the prompt picks."""
    n = len(t)
    root_midi = int(rng.integers(45, 57))
    chord_shape = _MINOR if words & _DARK else (_MAJOR if rng.random() < 0.7 else _MINOR)
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    if words & _FAST:
        bpm = rng.uniform(112, 136)
    elif words & _SLOW:
        bpm = rng.uniform(56, 76)
    else:
        bpm = rng.uniform(72, 112)
    beat_s = 60.0 / bpm
    bar_s = 4 * beat_s

    bar = (t // bar_s).astype(np.int64)
    chord_root = root_midi + np.asarray(progression)[bar % len(progression)]
    out = np.zeros((n, 2))

    # Pad: each chord tone on its own phase accumulator, so chord changes never click.
    detune = (1.0, 1.003)  # right channel slightly sharp: a wide, moving stereo image
    swell = 0.75 + 0.25 * np.sin(_TAU * t / bar_s - np.pi / 2)
    for step in chord_shape[:3]:
        freq = _midi_hz(chord_root + step)
        for ch in (0, 1):
            phase = np.cumsum(freq * detune[ch]) * (_TAU / AUDIO_RATE)
            out[:, ch] += 0.12 * np.sin(phase) * swell

    # Arpeggio: chord tones an octave up, one per eighth note, plucked (fast exponential decay).
    note_s = beat_s / 2
    note = (t // note_s).astype(np.int64)
    pattern = rng.permutation(4)
    tone = np.asarray(chord_shape)[pattern[note % 4]]
    freq = _midi_hz(chord_root + 12 + tone)
    pluck = np.exp(-(t - note * note_s) * rng.uniform(5.0, 10.0))
    phase = np.cumsum(freq) * (_TAU / AUDIO_RATE)
    voice = 0.18 * pluck * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    pan = 0.5 + 0.35 * np.sin(_TAU * t / (2 * bar_s))  # the arpeggio drifts across the field
    out[:, 0] += voice * (1 - pan)
    out[:, 1] += voice * pan

    if words & _BEAT or rng.random() < 0.25:
        since_beat = t - (t // beat_s) * beat_s
        kick = np.sin(_TAU * (45 * since_beat + 1.6 * (1 - np.exp(-since_beat * 30))))
        kick *= np.exp(-since_beat * 9)
        since_off = t - (t // beat_s + 0.5) * beat_s
        since_off = np.where(since_off < 0, since_off + beat_s, since_off)
        hat = rng.standard_normal((n, 2)) * np.exp(-since_off * 70)[:, None]
        out += 0.35 * kick[:, None] + 0.05 * hat
    return out


def _midi_hz(note: np.ndarray | int) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69) / 12)


def _shaped_noise(
    rng: np.random.Generator, n: int, low_hz: float, high_hz: float, tilt: float
) -> np.ndarray:
    """Independent noise per channel, band-limited with a spectral tilt (dB/octave-ish)."""
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    freqs = np.fft.rfftfreq(n, 1.0 / AUDIO_RATE)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    gain = np.zeros_like(freqs)
    gain[band] = (freqs[band] / low_hz) ** (tilt / 2)
    noise = np.fft.irfft(spectrum * gain, n=n, axis=1).T
    rms = float(np.sqrt(np.mean(noise**2)))
    return noise / rms * 0.3 if rms > 0 else noise


def _slow_swell(rng: np.random.Generator, t: np.ndarray, rate_hz: float) -> np.ndarray:
    """A slow amplitude swell per channel, offset so waves roll from one side to the other."""
    offset = rng.uniform(0, _TAU)
    left = 0.55 + 0.45 * np.sin(_TAU * rate_hz * t + offset)
    right = 0.55 + 0.45 * np.sin(_TAU * rate_hz * t + offset - 1.1)
    return np.stack([left, right], axis=1)


def _droplets(
    rng: np.random.Generator,
    n: int,
    per_second: float = 60.0,
    ring_hz: tuple[float, float] = (2500, 7000),
) -> np.ndarray:
    """Short decaying pings at random times and pans: rain drops, or fire crackle."""
    out = np.zeros((n, 2))
    length = AUDIO_RATE // 100
    count = rng.poisson(per_second * n / AUDIO_RATE)
    if n <= length or count == 0:
        return out
    starts = rng.integers(0, n - length, size=count)
    k = np.arange(length) / AUDIO_RATE
    freqs = rng.uniform(*ring_hz, size=count)
    pings = np.sin(_TAU * freqs[:, None] * k) * np.exp(-k * 900)[None, :]
    pings *= rng.uniform(0.2, 1.0, size=count)[:, None]
    pans = rng.uniform(0, 1, size=count)
    index = starts[:, None] + np.arange(length)[None, :]
    np.add.at(out[:, 0], index, pings * (1 - pans)[:, None])
    np.add.at(out[:, 1], index, pings * pans[:, None])
    return out


def _chirps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bird calls: quick upward sweeps in small bursts."""
    out = np.zeros((n, 2))
    length = int(AUDIO_RATE * 0.07)
    count = rng.poisson(3.0 * n / AUDIO_RATE)
    if n <= length or count == 0:
        return out
    starts = rng.integers(0, n - length, size=count)
    k = np.arange(length) / AUDIO_RATE
    base = rng.uniform(2200, 4200, size=count)[:, None]
    sweep = base * k + base * 6.0 * k**2  # instantaneous frequency rises through the call
    env = np.sin(np.pi * k / k[-1]) ** 2
    calls = np.sin(_TAU * sweep) * env[None, :]
    pans = rng.uniform(0.1, 0.9, size=count)
    index = starts[:, None] + np.arange(length)[None, :]
    np.add.at(out[:, 0], index, calls * (1 - pans)[:, None])
    np.add.at(out[:, 1], index, calls * pans[:, None])
    return out


def _horns(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Occasional two-tone car horns, each panned somewhere in the street."""
    n = len(t)
    out = np.zeros((n, 2))
    count = rng.poisson(0.3 * n / AUDIO_RATE)
    length = int(AUDIO_RATE * 0.35)
    if n <= length:
        return out
    k = t[:length]
    env = np.minimum(1.0, np.minimum(k, k[-1] - k) * 80)
    for _ in range(count):
        start = int(rng.integers(0, n - length))
        f = rng.uniform(350, 480)
        blast = (np.sign(np.sin(_TAU * f * k)) + np.sign(np.sin(_TAU * f * 1.26 * k))) * env
        pan = rng.uniform(0, 1)
        out[start : start + length, 0] += blast * (1 - pan) * 0.5
        out[start : start + length, 1] += blast * pan * 0.5
    return out


# Speech. Levels in the final mix: the bed (peak 0.8) is ducked under the speech layer.
_BED_UNDER_SPEECH = 0.55
_SPEECH_LEVEL = 0.85
_SPEECH_RMS = 0.3  # while speaking, before the level


@dataclass(frozen=True)
class VoiceCharacter:
    pitch_hz: float  # mean fundamental
    tract: float  # formant frequency scale: shorter vocal tracts (>1) sound higher and smaller
    breath: float  # share of aspiration noise in the source
    bright: float  # spectral tilt: >0 brighter, <0 darker
    rate: float  # syllables per second
    pan: float  # 0 left .. 1 right
    jitter: float  # pitch roughness (a gravelly voice has more)


VOICE_CHARACTERS: dict[str, VoiceCharacter] = {
    "ara": VoiceCharacter(205.0, 1.16, 0.12, 0.3, 4.3, 0.38, 0.004),
    "eve": VoiceCharacter(240.0, 1.22, 0.32, 0.7, 4.9, 0.62, 0.003),
    "una": VoiceCharacter(182.0, 1.1, 0.06, -0.2, 3.6, 0.46, 0.003),
    "leo": VoiceCharacter(118.0, 1.0, 0.1, 0.2, 4.0, 0.56, 0.005),
    "rex": VoiceCharacter(90.0, 0.92, 0.05, -0.4, 3.3, 0.42, 0.014),
    "sal": VoiceCharacter(148.0, 1.05, 0.2, 0.5, 4.6, 0.6, 0.006),
}

# Vowel formants of an adult male voice (F1, F2, F3 in Hz); the tract scale moves them.
_VOWELS = np.array(
    [
        (730, 1090, 2440),  # a
        (530, 1840, 2480),  # e
        (270, 2290, 3010),  # i
        (570, 840, 2410),  # o
        (300, 870, 2240),  # u
        (660, 1720, 2410),  # ae
        (490, 1350, 1690),  # er
    ],
    dtype=np.float64,
)
_FORMANT_BANDWIDTH = np.array([90.0, 110.0, 160.0])
_FORMANT_GAIN = np.array([1.0, 0.55, 0.3])
_FRAME = 1024  # analysis frame of the formant filter, and half of it the hop
_AUDIO_PLACEHOLDER = re.compile(r"<\s*audio[_ ]?(\d+)\s*>", re.IGNORECASE)


def voice_character(voice: str) -> VoiceCharacter:
    """A known voice's character, or one derived from the id's hash (stable everywhere)."""
    voice = voice.lower()
    if voice in VOICE_CHARACTERS:
        return VOICE_CHARACTERS[voice]
    h = int.from_bytes(hashlib.blake2b(voice.encode(), digest_size=8).digest(), "little")
    u = [((h >> (8 * k)) & 0xFF) / 255 for k in range(7)]
    return VoiceCharacter(
        pitch_hz=90 + 160 * u[0],
        tract=0.92 + 0.3 * u[1],
        breath=0.04 + 0.28 * u[2],
        bright=-0.4 + 1.1 * u[3],
        rate=3.3 + 1.6 * u[4],
        pan=0.35 + 0.3 * u[5],
        jitter=0.003 + 0.01 * u[6],
    )


def speaking_order(prompt: str, voices: Sequence[str]) -> list[int]:
    """Indices into `voices`, in the order they take turns: first those the prompt names as
    `<AUDIO_n>` (0-based), by first mention, then the rest in list order."""
    order: list[int] = []
    for match in _AUDIO_PLACEHOLDER.finditer(prompt):
        k = int(match.group(1))
        if k < len(voices) and k not in order:
            order.append(k)
    return order + [k for k in range(len(voices)) if k not in order]


def speech_layer(prompt: str, seed: int, voices: Sequence[str], n: int) -> np.ndarray:
    """Stereo dialogue within (-1, 1): the voices take turns babbling phrases, shape (n, 2)."""
    out = np.zeros((n, 2))
    if n == 0 or not voices:
        return out
    key = f"{seed}\x00{prompt}\x00voices\x00{','.join(voices)}"
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    order = speaking_order(prompt, voices)
    characters = [voice_character(v) for v in voices]
    # The script: phrases in turn, each a few words of one to three syllables.
    syllables: list[list[tuple[float, float, int, float, bool]]] = [[] for _ in voices]
    t = rng.uniform(0.08, 0.2)
    end_s = n / AUDIO_RATE
    turn = 0
    while t < end_s - 0.15:
        who = order[turn % len(order)]
        c = characters[who]
        words = int(rng.integers(2, 6))
        phrase: list[tuple[float, float, int, float, bool]] = []
        for w in range(words):
            for _ in range(int(rng.integers(1, 4))):
                length = rng.uniform(0.75, 1.3) / c.rate
                accent = 1.0 + 0.08 * rng.standard_normal()
                phrase.append(
                    (t, length, int(rng.integers(len(_VOWELS))), accent, rng.random() < 0.6)
                )
                t += length
            if w < words - 1:
                t += rng.uniform(0.03, 0.1)
        # Falling intonation over the phrase, sometimes rising at the end (a question).
        rise = rng.random() < 0.3
        for k, (start, length, vowel, accent, hiss) in enumerate(phrase):
            pos = k / max(len(phrase) - 1, 1)
            contour = 1.08 - 0.16 * pos + (0.25 * pos**4 if rise else 0.0)
            syllables[who].append((start, length, vowel, accent * contour, hiss))
        t += rng.uniform(0.25, 0.6)
        turn += 1
    for who, c in enumerate(characters):
        if syllables[who]:
            voice = _speak(rng, c, syllables[who], n)
            out[:, 0] += voice * (1 - c.pan)
            out[:, 1] += voice * c.pan
    # Even loudness whatever the voice or script: a set level while speaking, peaks rounded off.
    speaking = np.max(np.abs(out), axis=1) > 1e-3
    if not np.any(speaking):
        return out
    rms = float(np.sqrt(np.mean(out[speaking] ** 2)))
    return np.tanh(out * (_SPEECH_RMS / rms))


def _speak(
    rng: np.random.Generator,
    c: VoiceCharacter,
    syllables: list[tuple[float, float, int, float, bool]],
    n: int,
) -> np.ndarray:
    """One voice's syllables, mono: a source shaped by moving vowel formants."""
    t = np.arange(n) / AUDIO_RATE
    loud = np.zeros(n)
    hiss = np.zeros(n)
    marks_t, marks_f0 = [], []
    for start, length, _, accent, fricative in syllables:
        a, b = int(start * AUDIO_RATE), min(n, int((start + length) * AUDIO_RATE))
        if b - a < 8:
            continue
        k = np.linspace(0.0, 1.0, b - a)
        # Quick onset, held vowel, longer release: the shape of a spoken syllable.
        loud[a:b] = np.minimum(1.0, k / 0.2) * np.minimum(1.0, (1 - k) / 0.35) ** 1.5
        if fricative:
            f = min(b - a, int(0.045 * AUDIO_RATE))
            hiss[a : a + f] = np.sin(np.pi * np.linspace(0, 1, f))
        marks_t.append(start + length / 2)
        marks_f0.append(c.pitch_hz * accent)
    if not marks_t:
        return np.zeros(n)
    f0 = np.interp(t, marks_t, marks_f0)
    f0 *= 1 + 0.006 * np.sin(_TAU * 5.3 * t)  # vibrato
    wander = rng.standard_normal(int(n / AUDIO_RATE * 40) + 2)
    f0 *= 1 + c.jitter * np.interp(t * 40, np.arange(len(wander)), wander)
    phase = np.cumsum(f0) / AUDIO_RATE
    saw = 2.0 * (phase - np.floor(phase)) - 1.0
    noise = rng.standard_normal(n)
    source = (saw * (1 - c.breath) + noise * c.breath * 1.5) * loud

    # Formants per analysis frame, following the syllable under the frame's centre.
    hop = _FRAME // 2
    padded_n = (n + 2 * hop + hop - 1) // hop * hop + hop
    frames = (padded_n - _FRAME) // hop + 1
    centres = (np.arange(frames) * hop + _FRAME / 2 - hop) / AUDIO_RATE
    starts = np.array([s[0] for s in syllables])
    which = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(syllables) - 1)
    vowels = np.array([s[2] for s in syllables])[which]
    formants = _VOWELS[vowels] * c.tract  # (frames, 3)
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / AUDIO_RATE)
    offset = (freqs[None, None, :] - formants[:, :, None]) / (_FORMANT_BANDWIDTH[None, :, None] / 2)
    envelope = np.sum(_FORMANT_GAIN[None, :, None] / (1 + offset**2), axis=1) + 0.02
    safe = np.maximum(freqs, 50.0)
    envelope *= (safe / 1000) ** (0.5 * c.bright)
    envelope *= freqs**2 / (freqs**2 + 90.0**2) / (1 + (freqs / 6000) ** 4)
    voiced = _filter(source, envelope, padded_n)

    # Consonant hiss: differenced white noise leans to the highs, like an "s" or an "f".
    fricative = np.diff(rng.standard_normal(n + 1)) * hiss
    return voiced / max(float(np.max(np.abs(voiced))), 1e-9) + 0.12 * fricative


def _filter(signal: np.ndarray, envelope: np.ndarray, padded_n: int) -> np.ndarray:
    """Filter `signal` by a per-frame magnitude envelope (frames, _FRAME // 2 + 1): short-time
    Fourier transform, multiply, overlap-add with root-Hann windows (which sum to one)."""
    n = len(signal)
    hop = _FRAME // 2
    padded = np.zeros(padded_n)
    padded[hop : hop + n] = signal
    frames = envelope.shape[0]
    window = np.sqrt(0.5 - 0.5 * np.cos(_TAU * np.arange(_FRAME) / _FRAME))
    index = np.arange(frames)[:, None] * hop + np.arange(_FRAME)[None, :]
    spectra = np.fft.rfft(padded[index] * window, axis=1) * envelope
    pieces = np.fft.irfft(spectra, n=_FRAME, axis=1) * window
    out = np.zeros(padded_n + hop)
    out[: frames * hop] += pieces[:, :hop].ravel()
    out[hop : hop + frames * hop] += pieces[:, hop:].ravel()
    return out[hop : hop + n]
