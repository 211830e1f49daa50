"""Procedural soundtracks: a prompt and a seed become a short stereo piece, deterministically.

Words in the prompt pick ambience (rain, ocean, wind, city, birds, fire) and the feel of the
music (key, mode, tempo, drums); a hash of the prompt picks the rest, so different prompts sound
different and the same prompt and seed always sound the same. Everything is vectorised numpy.
"""

from __future__ import annotations

import hashlib
import re

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


def procedural_audio(prompt: str, seed: int, duration_s: float) -> np.ndarray:
    """Stereo float32 samples in [-1, 1], shape (round(duration_s * 48000), 2)."""
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
