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

Memory does not grow with the duration (beyond the float32 output itself): everything random is
decided up front (note patterns, event times, the script of the dialogue, seeds of the noise
streams), then the track is synthesised in blocks of `_BLOCK` samples straight into the output.
Oscillators run on absolute time or carry their phase from block to block, noise beds are
filtered by overlap-add (FIR) and the formant filter is a streaming short-time Fourier transform,
so the result does not depend on where the blocks fall: there is nothing to click at their seams.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from reelforge.engines.base import AUDIO_RATE

_TAU = 2.0 * np.pi
_F32 = np.float32

# Samples per synthesis block: a multiple of the formant filter's hop, and with a noise FIR of
# _NOISE_TAPS taps one block fits a _NOISE_FFT-point FFT (linear, not circular, convolution).
_BLOCK = 28_672
_NOISE_TAPS = 4096
_NOISE_FFT = 32_768

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
        return np.zeros((0, 2), dtype=_F32)
    digest = hashlib.blake2b(f"{seed}\x00{prompt}".encode(), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    layers = _bed(rng, words, n)

    out = np.empty((n, 2), dtype=_F32)
    peak = 0.0
    for a in range(0, n, _BLOCK):
        block = np.zeros((2, min(n, a + _BLOCK) - a), dtype=_F32)
        for layer in layers:
            layer.add(block, a)
        out[a : a + block.shape[1]] = block.T
        peak = max(peak, float(np.max(np.abs(block))))
    out *= 0.8 / peak if peak > 0 else 1.0
    if voices:
        speech = _Speech(prompt, seed, [v.lower() for v in voices], n)
        peak = 0.0
        for a in range(0, n, _BLOCK):
            b = min(n, a + _BLOCK)
            mixed = out[a:b]  # a view: mixed in place
            mixed *= _BED_UNDER_SPEECH
            mixed += _SPEECH_LEVEL * speech.render(a, b).T
            peak = max(peak, float(np.max(np.abs(mixed))))
        if peak > 0.95:
            out *= 0.95 / peak
    # Short fades so the clip neither starts nor ends on a click.
    fade = min(n // 2, AUDIO_RATE // 50)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=_F32)[:, None]
        out[:fade] *= ramp
        out[n - fade :] *= ramp[::-1]
    return np.clip(out, -1.0, 1.0, out=out)


def _bed(rng: np.random.Generator, words: set[str], n: int) -> list[_Layer]:
    """The layers under any speech, every random choice made now: music and ambience."""
    ambient = words & (_RAIN | _OCEAN | _WIND | _CITY | _BIRDS | _FIRE)
    # Noise beds that are simply added share one filter whose power spectrum is the sum of
    # theirs; a quiet coloured-noise floor under everything: the track is never silent.
    beds = [(0.03, 80, 6000, -1.0)]
    layers: list[_Layer] = [_Music(rng, words, level=0.35 if ambient else 0.6)]
    if words & _RAIN:
        beds.append((0.35, 800, 12000, -0.3))
        layers.append(_droplets(rng, n))
    if words & _OCEAN:
        rate = rng.uniform(0.07, 0.14)
        swell = _Swell(rate, rng.uniform(0, _TAU))
        layers.append(_NoiseBed(rng.spawn(1)[0], _noise_taps([(0.6, 60, 2500, -1.5)]), swell))
    if words & _WIND:
        rate = rng.uniform(0.15, 0.35)
        gust = _Swell(rate, rng.uniform(0, _TAU))
        layers.append(_NoiseBed(rng.spawn(1)[0], _noise_taps([(0.35, 200, 1500, -0.5)]), gust))
    if words & _CITY:
        beds.append((0.4, 30, 250, -1.0))
        layers.append(_horns(rng, n))
    if words & _BIRDS:
        layers.append(_chirps(rng, n))
    if words & _FIRE:
        beds.append((0.3, 100, 900, -1.0))
        layers.append(_droplets(rng, n, per_second=25.0, ring_hz=(1500, 4000), level=0.3))
    layers.append(_NoiseBed(rng.spawn(1)[0], _noise_taps(beds)))
    return layers


class _Layer:
    """A part of the bed, synthesised block by block, in order, from sample 0."""

    def add(self, block: np.ndarray, a: int) -> None:
        """Add samples [a, a + m) of this layer to `block` (float32, (2, m): channels)."""
        raise NotImplementedError


def _times(a: int, m: int) -> np.ndarray:
    """Absolute times in seconds of samples [a, a + m), float64."""
    return np.arange(a, a + m, dtype=np.float64) * (1.0 / AUDIO_RATE)


def _sin_cycles(cycles: np.ndarray) -> np.ndarray:
    """sin(2 pi x) of a float64 phase in cycles, in float32 (wrapped first: exact enough)."""
    return np.sin(_TAU * (cycles - np.floor(cycles)).astype(_F32))


class _Music(_Layer):
    """A chord pad, an arpeggio and (for lively prompts) drums, in a key the prompt picks."""

    def __init__(self, rng: np.random.Generator, words: set[str], level: float) -> None:
        root_midi = int(rng.integers(45, 57))
        chord_shape = _MINOR if words & _DARK else (_MAJOR if rng.random() < 0.7 else _MINOR)
        progression = np.asarray(_PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))])
        if words & _FAST:
            bpm = rng.uniform(112, 136)
        elif words & _SLOW:
            bpm = rng.uniform(56, 76)
        else:
            bpm = rng.uniform(72, 112)
        self.level = level
        self.beat_s = 60.0 / bpm
        self.bar_s = 4 * self.beat_s
        self.root_hz = _midi_hz(root_midi + progression)  # per bar of the progression
        self.pad_ratios = 2.0 ** (np.asarray(chord_shape[:3]) / 12)
        shape = np.asarray(chord_shape)
        # Arpeggio: chord tones an octave up, one per eighth note, in a shuffled order.
        pattern = rng.permutation(4)
        arp_hz = _midi_hz(root_midi + progression[:, None] + 12 + shape[None, pattern])
        self.arp_hz = arp_hz.ravel()  # [chord * 4 + eighth note in the bar % 4]
        self.decay = rng.uniform(5.0, 10.0)
        drums = bool(words & _BEAT) or rng.random() < 0.25
        self.hats = rng.spawn(1)[0] if drums else None
        self.pad_cycles = 0.0  # phase accumulators, carried from block to block
        self.arp_cycles = 0.0

    def add(self, block: np.ndarray, a: int) -> None:
        m = block.shape[1]
        level, note_s = self.level, self.beat_s / 2
        beats = np.arange(a, a + m, dtype=np.float64) * (1.0 / (AUDIO_RATE * self.beat_s))
        eighth = (beats * 2).astype(np.int64)  # eighth notes since the start
        chord = (eighth >> 3) % len(self.root_hz)  # a chord per four-beat bar
        since_note = ((beats * 2 - eighth) * note_s).astype(_F32)  # seconds

        # Pad: each chord tone a fixed ratio of the root's phase accumulator, so chord changes
        # never click; the right channel slightly sharp for a wide, moving stereo image.
        cycles = np.cumsum(self.root_hz[chord]) * (1.0 / AUDIO_RATE) + self.pad_cycles
        self.pad_cycles = float(cycles[-1])
        swell = (0.12 * level) * (0.75 + 0.25 * _sin_cycles(beats * 0.25 - 0.25))
        for ch, detune in ((0, 1.0), (1, 1.003)):
            tones = sum(_sin_cycles(cycles * (ratio * detune)) for ratio in self.pad_ratios)
            block[ch] += tones * swell

        # Arpeggio, plucked (fast exponential decay), drifting across the stereo field.
        cycles = np.cumsum(self.arp_hz[chord * 4 + (eighth & 3)]) * (1.0 / AUDIO_RATE)
        cycles += self.arp_cycles
        self.arp_cycles = float(cycles[-1] - np.floor(cycles[-1]))
        phase = _TAU * (cycles - np.floor(cycles)).astype(_F32)
        voice = np.exp(since_note * _F32(-self.decay))
        voice *= np.sin(phase) + 0.3 * np.sin(2 * phase)
        voice *= 0.18 * level
        pan = 0.5 + 0.35 * _sin_cycles(beats * 0.125)
        block[0] += voice * (1 - pan)
        block[1] += voice * pan

        if self.hats is not None:
            odd = (eighth & 1).astype(_F32) * _F32(note_s)
            since_beat = since_note + odd
            since_off = since_note + (_F32(note_s) - odd)  # the off-beat: half a beat later
            kick = np.sin(_TAU * (45 * since_beat + 1.6 * (1 - np.exp(-since_beat * 30))))
            kick *= np.exp(-since_beat * 9)
            block += (0.35 * level) * kick
            # Closed hats on the off-beats: noise drawn only where they ring (0.15 s).
            ringing = since_off < 0.15
            hat = self.hats.standard_normal((int(np.count_nonzero(ringing)), 2), dtype=_F32)
            hat *= ((0.05 * level) * np.exp(-since_off[ringing] * 70))[:, None]
            block[:, ringing] += hat.T


def _midi_hz(note: np.ndarray | int) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69) / 12)


def _noise_taps(beds: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    """A linear-phase FIR for the sum of independent noise beds (level, low_hz, high_hz, tilt):
    each band-limited with a spectral tilt (dB/octave-ish), at an RMS of 0.3 times its level;
    their power spectra add. White noise of unit variance through it has the summed power."""
    freqs = np.fft.rfftfreq(_NOISE_TAPS, 1.0 / AUDIO_RATE)
    power = np.zeros_like(freqs)
    total = 0.0
    for level, low_hz, high_hz, tilt in beds:
        band = (freqs >= low_hz) & (freqs <= high_hz)
        gain = np.zeros_like(freqs)
        gain[band] = (freqs[band] / low_hz) ** (tilt / 2)
        power += (0.3 * level) ** 2 * gain**2 / np.sum(_fir(gain) ** 2)
        total += (0.3 * level) ** 2
    taps = _fir(np.sqrt(power))
    return taps * np.sqrt(total / np.sum(taps**2))


def _fir(gain: np.ndarray) -> np.ndarray:
    """Windowed linear-phase FIR (_NOISE_TAPS taps) with magnitude `gain` on the rfft grid."""
    taps = np.roll(np.fft.irfft(gain, _NOISE_TAPS), _NOISE_TAPS // 2)
    return taps * np.hanning(_NOISE_TAPS)


@dataclass(frozen=True)
class _Swell:
    """A slow amplitude swell per channel, offset so waves roll from one side to the other."""

    rate_hz: float
    offset: float

    def __call__(self, t: np.ndarray) -> np.ndarray:
        phase = (_TAU * self.rate_hz * t + self.offset).astype(_F32)
        return 0.55 + 0.45 * np.sin(np.stack([phase, phase - 1.1]))


class _NoiseBed(_Layer):
    """Independent white noise per channel through an FIR, block by block with overlap-add:
    the same stream, filtered, whatever the blocks. Optionally under a slow swell."""

    def __init__(
        self, rng: np.random.Generator, taps: np.ndarray, swell: _Swell | None = None
    ) -> None:
        self.rng = rng
        self.spectrum = np.fft.rfft(taps, _NOISE_FFT).astype(np.complex64)
        self.swell = swell
        # Prime the filter with earlier noise, so the bed starts at its full level.
        self.tail = self._filtered(_NOISE_TAPS - 1)[:, _NOISE_TAPS - 1 : 2 * _NOISE_TAPS - 2]

    def _filtered(self, m: int) -> np.ndarray:
        """The next m samples of white noise, filtered: (2, _NOISE_FFT), all but the first
        m + _NOISE_TAPS - 1 samples zero."""
        noise = self.rng.standard_normal((m, 2), dtype=_F32).T
        spectrum = np.fft.rfft(noise, _NOISE_FFT, axis=1) * self.spectrum
        return np.fft.irfft(spectrum, _NOISE_FFT, axis=1)

    def add(self, block: np.ndarray, a: int) -> None:
        m = block.shape[1]
        assert m + _NOISE_TAPS - 1 <= _NOISE_FFT
        y = self._filtered(m)
        y[:, : _NOISE_TAPS - 1] += self.tail
        self.tail = y[:, m : m + _NOISE_TAPS - 1].copy()
        if self.swell is None:
            block += y[:, :m]
        else:
            block += y[:, :m] * self.swell(_times(a, m))


class _Events(_Layer):
    """Short sounds of a fixed length at times (and with parameters) drawn up front; `sound`
    renders rows of them from the events' indices and the times since their starts."""

    def __init__(
        self,
        starts: np.ndarray,
        length: int,
        pans: np.ndarray,
        sound: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> None:
        order = np.argsort(starts, kind="stable")
        self.starts = starts[order]
        self.index = order  # into the parameter arrays `sound` closes over
        self.length = length
        self.pans = pans[order]
        self.sound = sound

    def add(self, block: np.ndarray, a: int) -> None:
        m = block.shape[1]
        lo = int(np.searchsorted(self.starts, a - self.length, side="right"))
        hi = int(np.searchsorted(self.starts, a + m, side="left"))
        if lo >= hi:
            return
        offset = np.arange(self.length)
        at = self.starts[lo:hi, None] - a + offset[None, :]  # sample positions within the block
        inside = (at >= 0) & (at < m)
        sound = self.sound(self.index[lo:hi], offset / AUDIO_RATE)
        pans = self.pans[lo:hi, None]
        for ch, share in ((0, 1 - pans), (1, pans)):
            block[ch] += np.bincount(at[inside], (sound * share)[inside], minlength=m)


def _droplets(
    rng: np.random.Generator,
    n: int,
    per_second: float = 60.0,
    ring_hz: tuple[float, float] = (2500, 7000),
    level: float = 0.25,
) -> _Layer:
    """Short decaying pings at random times and pans: rain drops, or fire crackle."""
    length = AUDIO_RATE // 100
    count = int(rng.poisson(per_second * n / AUDIO_RATE)) if n > length else 0
    starts = rng.integers(0, n - length, size=count) if count else np.zeros(0, np.int64)
    freqs = rng.uniform(*ring_hz, size=count)
    gains = level * rng.uniform(0.2, 1.0, size=count)
    pans = rng.uniform(0, 1, size=count)

    def sound(which: np.ndarray, k: np.ndarray) -> np.ndarray:
        ring = np.sin(_TAU * freqs[which, None] * k) * np.exp(-k * 900)[None, :]
        return ring * gains[which, None]

    return _Events(starts, length, pans, sound)


def _chirps(rng: np.random.Generator, n: int) -> _Layer:
    """Bird calls: quick upward sweeps in small bursts."""
    length = int(AUDIO_RATE * 0.07)
    count = int(rng.poisson(3.0 * n / AUDIO_RATE)) if n > length else 0
    starts = rng.integers(0, n - length, size=count) if count else np.zeros(0, np.int64)
    base = rng.uniform(2200, 4200, size=count)
    pans = rng.uniform(0.1, 0.9, size=count)

    def sound(which: np.ndarray, k: np.ndarray) -> np.ndarray:
        f = base[which, None]
        sweep = f * k + f * 6.0 * k**2  # instantaneous frequency rises through the call
        env = np.sin(np.pi * k / k[-1]) ** 2
        return 0.2 * np.sin(_TAU * sweep) * env[None, :]

    return _Events(starts, length, pans, sound)


def _horns(rng: np.random.Generator, n: int) -> _Layer:
    """Occasional two-tone car horns, each panned somewhere in the street."""
    length = int(AUDIO_RATE * 0.35)
    count = int(rng.poisson(0.3 * n / AUDIO_RATE)) if n > length else 0
    starts = rng.integers(0, n - length, size=count) if count else np.zeros(0, np.int64)
    freqs = rng.uniform(350, 480, size=count)
    pans = rng.uniform(0, 1, size=count)

    def sound(which: np.ndarray, k: np.ndarray) -> np.ndarray:
        env = np.minimum(1.0, np.minimum(k, k[-1] - k) * 80)
        f = freqs[which, None]
        tones = np.sign(np.sin(_TAU * f * k)) + np.sign(np.sin(_TAU * f * 1.26 * k))
        return 0.075 * tones * env

    return _Events(starts, length, pans, sound)


# Speech. Levels in the final mix: the bed (peak 0.8) is ducked under the speech layer.
_BED_UNDER_SPEECH = 0.55
_SPEECH_LEVEL = 0.85
_SPEECH_RMS = 0.3  # while speaking, before the level
_FRICATIVE = 0.4  # consonant hiss against the voiced sound at full loudness (RMS 1)


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
_HOP = _FRAME // 2
_WINDOW = np.sqrt(0.5 - 0.5 * np.cos(_TAU * np.arange(_FRAME) / _FRAME)).astype(_F32)
_AUDIO_PLACEHOLDER = re.compile(r"<\s*audio[_ ]?(\d+)\s*>", re.IGNORECASE)
assert _BLOCK % _HOP == 0


def _syllable_shape(k: np.ndarray) -> np.ndarray:
    """Loudness through a syllable (k from 0 to 1): quick onset, held vowel, longer release."""
    k = np.clip(k, 0.0, 1.0)
    return np.minimum(1.0, k / 0.2) * np.minimum(1.0, (1 - k) / 0.35) ** 1.5


_SYLLABLE_POWER = float(np.mean(_syllable_shape(np.linspace(0.0, 1.0, 4001)) ** 2))


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
    out = np.zeros((n, 2), dtype=_F32)
    if n == 0 or not voices:
        return out
    speech = _Speech(prompt, seed, voices, n)
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        out[a:b] = speech.render(a, b).T
    return out


_Syllable = tuple[float, float, int, float, bool]  # start s, length s, vowel, pitch scale, hiss


class _Speech:
    """The dialogue: the script is written up front, then rendered block by block, in order."""

    def __init__(self, prompt: str, seed: int, voices: Sequence[str], n: int) -> None:
        key = f"{seed}\x00{prompt}\x00voices\x00{','.join(voices)}"
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "little"))
        order = speaking_order(prompt, voices)
        characters = [voice_character(v) for v in voices]
        # The script: phrases in turn, each a few words of one to three syllables.
        syllables: list[list[_Syllable]] = [[] for _ in voices]
        t = rng.uniform(0.08, 0.2)
        end_s = n / AUDIO_RATE
        turn = 0
        while t < end_s - 0.15:
            who = order[turn % len(order)]
            c = characters[who]
            words = int(rng.integers(2, 6))
            phrase: list[_Syllable] = []
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
        self.voices = [
            _Voice(rng, c, syllables[who], n) for who, c in enumerate(characters) if syllables[who]
        ]
        self.voices = [v for v in self.voices if v.speaks]
        # Even loudness whatever the voice or script: a set level while speaking, peaks rounded
        # off. The level is known from the script (each voice's vowels have a known power), so
        # the whole dialogue need not exist before it is scaled.
        energy = sum(v.energy * ((1 - v.c.pan) ** 2 + v.c.pan**2) / 2 for v in self.voices)
        speaking = sum(v.speaking for v in self.voices)
        self.gain = _SPEECH_RMS / np.sqrt(energy / speaking) if speaking else 0.0

    def render(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) (float32, (2, b - a)); call for consecutive blocks from 0."""
        out = np.zeros((2, b - a), dtype=_F32)
        for v in self.voices:
            voice = v.render(a, b)
            out[0] += voice * _F32(1 - v.c.pan)
            out[1] += voice * _F32(v.c.pan)
        out *= _F32(self.gain)
        return np.tanh(out, out=out)


class _Voice:
    """One voice's syllables, mono: a source shaped by moving vowel formants, block by block.
    The formant filter is a short-time Fourier transform (frames of _FRAME, hop _HOP, root-Hann
    windows that sum to one) run as a stream: the source runs one hop ahead of the output."""

    def __init__(
        self, rng: np.random.Generator, c: VoiceCharacter, syllables: list[_Syllable], n: int
    ) -> None:
        self.c = c
        start = np.array([s[0] for s in syllables])
        length = np.array([s[1] for s in syllables])
        vowel = np.array([s[2] for s in syllables])
        first = (start * AUDIO_RATE).astype(np.int64)
        last = np.minimum(n, ((start + length) * AUDIO_RATE).astype(np.int64))
        keep = last - first >= 8
        self.speaks = bool(np.any(keep))
        self.first, self.last = first[keep], last[keep]
        hiss = np.array([s[4] for s in syllables])[keep]
        self.hiss = np.where(hiss, np.minimum(self.last - self.first, int(0.045 * AUDIO_RATE)), 0)
        self.marks_t = (start + length / 2)[keep]
        self.marks_f0 = c.pitch_hz * np.array([s[3] for s in syllables])[keep]
        self.vowel_starts, self.vowels = start, vowel
        self.wander = rng.standard_normal(int(n / AUDIO_RATE * 40) + 2)
        self.breath_noise, self.hiss_noise = rng.spawn(2)

        # Formant envelopes per vowel (7, _FRAME // 2 + 1), scaled so the vowels have, on
        # average, unit power from a full-loudness source at the voice's pitch.
        freqs = np.fft.rfftfreq(_FRAME, 1.0 / AUDIO_RATE)
        formants = _VOWELS * c.tract
        offset = (freqs[None, None, :] - formants[:, :, None]) / (
            _FORMANT_BANDWIDTH[None, :, None] / 2
        )
        envelope = np.sum(_FORMANT_GAIN[None, :, None] / (1 + offset**2), axis=1) + 0.02
        safe = np.maximum(freqs, 50.0)
        envelope *= (safe / 1000) ** (0.5 * c.bright)
        envelope *= freqs**2 / (freqs**2 + 90.0**2) / (1 + (freqs / 6000) ** 4)
        power = self._vowel_power(envelope.astype(_F32))
        self.envelope = (envelope / np.sqrt(power.mean())).astype(_F32)
        power /= power.mean()
        self.speaking = int(np.sum(self.last - self.first))
        self.energy = float(
            np.sum((self.last - self.first) * _SYLLABLE_POWER * power[vowel[keep]])
            + np.sum(self.hiss) * _FRICATIVE**2  # differenced unit noise: variance 2, sin^2
        )

        self.cycles = 0.0  # glottal phase, carried from block to block
        self.prev = np.zeros(_HOP, dtype=_F32)  # the source's last hop, for the next frame
        self.carry = np.zeros(_HOP, dtype=_F32)  # the last frame's second half
        self.fed = 0  # source samples so far
        self.last_noise = _F32(0.0)  # the hiss noise's previous sample
        self._filter(self._source(0, _HOP))  # output [-_HOP, 0): the padding, dropped

    def _vowel_power(self, envelope: np.ndarray) -> np.ndarray:
        """Power of each vowel's output for a steady full-loudness source at the voice's pitch."""
        frames = 16
        k = np.arange((frames + 1) * _HOP)
        cycles = self.c.pitch_hz * k / AUDIO_RATE
        saw = 2.0 * (cycles - np.floor(cycles)) - 1.0
        noise = np.random.default_rng(0).standard_normal(len(k))
        source = (saw * (1 - self.c.breath) + noise * self.c.breath * 1.5).astype(_F32)
        power = np.empty(len(envelope))
        for v, env in enumerate(envelope):
            out = _stft_filter(source, np.broadcast_to(env, (frames, len(env))))
            power[v] = np.mean(out[_HOP : frames * _HOP].astype(np.float64) ** 2)
        return power

    def _syllables(self, a: int, b: int) -> range:
        """Indices of the syllables that sound in samples [a, b)."""
        lo = int(np.searchsorted(self.last, a, side="right"))
        return range(lo, int(np.searchsorted(self.first, b, side="left")))

    def _source(self, a: int, m: int) -> np.ndarray:
        """The glottal source for samples [a, a + m): sawtooth and breath, under the loudness
        of the syllables; consecutive calls only (the phase and the noise run on)."""
        t = _times(a, m)
        f0 = np.interp(t, self.marks_t, self.marks_f0)
        f0 *= 1 + 0.006 * _sin_cycles(5.3 * t)  # vibrato
        f0 *= 1 + self.c.jitter * np.interp(t * 40, np.arange(len(self.wander)), self.wander)
        cycles = np.cumsum(f0)
        cycles *= 1.0 / AUDIO_RATE
        cycles += self.cycles
        self.cycles = float(cycles[-1] - np.floor(cycles[-1]))
        source = np.zeros(m, dtype=_F32)
        spans = [
            (max(a, int(self.first[s])), min(a + m, int(self.last[s])), s)
            for s in self._syllables(a, a + m)
        ]
        # Breath noise only where there is a syllable to breathe it into.
        noise = self.breath_noise.standard_normal(sum(hi - lo for lo, hi, _ in spans), _F32)
        noise *= self.c.breath * 1.5
        used = 0
        for lo, hi, s in spans:
            first, last = int(self.first[s]), int(self.last[s])
            k = np.arange(lo - first, hi - first) * (1.0 / (last - first - 1))
            saw = 2.0 * (cycles[lo - a : hi - a] - np.floor(cycles[lo - a : hi - a])) - 1.0
            glottal = (saw * (1 - self.c.breath)).astype(_F32) + noise[used : used + hi - lo]
            source[lo - a : hi - a] = glottal * _syllable_shape(k).astype(_F32)
            used += hi - lo
        return source

    def _filter(self, chunk: np.ndarray) -> np.ndarray:
        """Feed source samples [fed, fed + len(chunk)) (a whole number of hops): the filtered
        output for [fed - _HOP, fed + len(chunk) - _HOP). Each frame takes the formants of the
        syllable under its centre."""
        frames = len(chunk) // _HOP
        centres = (self.fed + np.arange(frames) * _HOP) / AUDIO_RATE
        which = np.searchsorted(self.vowel_starts, centres, side="right") - 1
        vowels = self.vowels[np.clip(which, 0, len(self.vowels) - 1)]
        out = _stft_filter(np.concatenate([self.prev, chunk]), self.envelope[vowels])
        out[:_HOP] += self.carry
        self.carry = out[frames * _HOP :].copy()
        self.prev = chunk[-_HOP:].copy()
        self.fed += len(chunk)
        return out[: frames * _HOP]

    def render(self, a: int, b: int) -> np.ndarray:
        """The voice's samples [a, b), mono float32; consecutive blocks from 0 only."""
        assert a + _HOP == self.fed, "blocks in order"
        m = b - a
        ahead = -(-m // _HOP) * _HOP  # whole hops
        voiced = self._filter(self._source(a + _HOP, ahead))[:m]
        # Consonant hiss: differenced white noise leans to the highs, like an "s" or an "f";
        # drawn only where it sounds, at the start of the syllables that have it.
        for s in self._syllables(a, b):
            first, hiss = int(self.first[s]), int(self.hiss[s])
            lo, hi = max(a, first), min(b, first + hiss)
            if lo >= hi:
                continue
            noise = self.hiss_noise.standard_normal(hi - lo + (lo == first), _F32)
            if lo == first:
                self.last_noise, noise = noise[0], noise[1:]
            step = np.diff(noise, prepend=self.last_noise)
            self.last_noise = noise[-1]
            shape = np.sin(np.arange(lo - first, hi - first) * (np.pi / max(hiss - 1, 1)))
            voiced[lo - a : hi - a] += step * (_FRICATIVE * shape).astype(_F32)
        return voiced


def _stft_filter(signal: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Filter `signal` ((frames + 1) * _HOP samples) by a per-frame magnitude envelope
    (frames, _FRAME // 2 + 1): short-time Fourier transform, multiply, overlap-add with
    root-Hann windows (which sum to one). The result, as long as `signal`, lacks the previous
    frame's second half in its first hop and the next frame's first half in its last."""
    frames = len(envelope)
    windowed = np.lib.stride_tricks.sliding_window_view(signal, _FRAME)[::_HOP] * _WINDOW
    pieces = np.fft.irfft(np.fft.rfft(windowed, axis=1) * envelope, _FRAME, axis=1) * _WINDOW
    out = np.zeros((frames + 1) * _HOP, dtype=_F32)
    out[: frames * _HOP] += pieces[:, :_HOP].ravel()
    out[_HOP:] += pieces[:, _HOP:].ravel()
    return out
