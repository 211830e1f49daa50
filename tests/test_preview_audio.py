"""Procedural soundtracks with voices: each voice audibly changes the track, deterministically."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from reelforge.engines.base import AUDIO_RATE, RenderRequest
from reelforge.engines.preview import PreviewEngine, audio
from reelforge.engines.preview.audio import (
    VOICE_CHARACTERS,
    procedural_audio,
    speaking_order,
    speech_layer,
    voice_character,
)

VOICES = ("ara", "eve", "leo", "rex", "sal", "una")
PROMPT = "a calm evening at the beach, waves rolling in"


def power(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mono = track.astype(np.float64).mean(axis=1)
    return np.fft.rfftfreq(len(mono), 1 / AUDIO_RATE), np.abs(np.fft.rfft(mono)) ** 2


def band_energy(track: np.ndarray, low: float, high: float) -> float:
    freqs, spectrum = power(track)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def spectrum_db(track: np.ndarray, bands: int = 48) -> np.ndarray:
    """Share of the power in log-spaced bands from 60 Hz to 8 kHz, in dB."""
    freqs, spectrum = power(track)
    edges = np.geomspace(60, 8000, bands + 1)
    levels = np.array(
        [spectrum[(freqs >= a) & (freqs < b)].sum() for a, b in itertools.pairwise(edges)]
    )
    return 10 * np.log10(levels / levels.sum() + 1e-12)


@pytest.fixture(scope="module")
def tracks() -> dict[str, np.ndarray]:
    out = {"": procedural_audio(PROMPT, 5, 3.0)}
    out.update({v: procedural_audio(PROMPT, 5, 3.0, (v,)) for v in VOICES})
    return out


def test_voices_keep_the_shape_and_range(tracks: dict[str, np.ndarray]) -> None:
    for track in tracks.values():
        assert track.shape == (3 * AUDIO_RATE, 2) and track.dtype == np.float32
        assert np.abs(track).max() <= 1.0
    assert procedural_audio("x", 0, 0.0, ("ara",)).shape == (0, 2)
    assert procedural_audio("x", 0, 1 / 3, ("rex", "eve")).shape == (16_000, 2)


def test_no_voices_is_the_old_signature() -> None:
    assert np.array_equal(procedural_audio(PROMPT, 2, 1.0), procedural_audio(PROMPT, 2, 1.0, ()))


def test_voices_are_deterministic_and_case_insensitive() -> None:
    a = procedural_audio(PROMPT, 9, 2.0, ("leo", "ara"))
    assert np.array_equal(a, procedural_audio(PROMPT, 9, 2.0, ("leo", "ara")))
    assert np.array_equal(a, procedural_audio(PROMPT, 9, 2.0, ("LEO", "Ara")))
    assert not np.array_equal(a, procedural_audio(PROMPT, 10, 2.0, ("leo", "ara")))


@pytest.mark.parametrize("voice", VOICES)
def test_a_voice_adds_speech_band_energy(tracks: dict[str, np.ndarray], voice: str) -> None:
    plain, spoken = tracks[""], tracks[voice]
    assert band_energy(spoken, 100, 3000) > 1.8 * band_energy(plain, 100, 3000)
    assert np.abs(spectrum_db(spoken) - spectrum_db(plain)).mean() > 3


def test_each_voice_sounds_different(tracks: dict[str, np.ndarray]) -> None:
    spectra = {v: spectrum_db(tracks[v]) for v in VOICES}
    for a, b in itertools.combinations(VOICES, 2):
        assert np.abs(spectra[a] - spectra[b]).mean() > 2, (a, b)


def test_low_voices_are_low_and_high_voices_high() -> None:
    def low_share(voice: str) -> float:
        speech = speech_layer("p", 1, [voice], 3 * AUDIO_RATE)
        return band_energy(speech, 70, 160) / band_energy(speech, 70, 4000)

    assert low_share("rex") > 3 * low_share("eve")
    assert low_share("leo") > 3 * low_share("ara")
    assert VOICE_CHARACTERS["rex"].pitch_hz < VOICE_CHARACTERS["leo"].pitch_hz
    assert VOICE_CHARACTERS["leo"].pitch_hz < VOICE_CHARACTERS["una"].pitch_hz


def test_unknown_voice_ids_get_a_stable_character_of_their_own() -> None:
    assert voice_character("zed") == voice_character("ZED")
    assert voice_character("zed") != voice_character("zoe")
    a = procedural_audio(PROMPT, 1, 1.0, ("zed",))
    assert np.array_equal(a, procedural_audio(PROMPT, 1, 1.0, ("zed",)))


def test_speaking_order_follows_audio_placeholders() -> None:
    assert speaking_order("<AUDIO_1> asks, <AUDIO_0> answers", ["ara", "rex"]) == [1, 0]
    assert speaking_order("<AUDIO_2> then <AUDIO_7>", ["ara", "rex", "eve"]) == [2, 0, 1]
    assert speaking_order("nothing", ["ara", "rex"]) == [0, 1]


def test_two_voices_take_turns() -> None:
    speech = speech_layer("a chat", 4, ["ara", "rex"], 6 * AUDIO_RATE)
    window = AUDIO_RATE // 4
    deep = []  # per quarter second with speech: is it rex (energy around his 90 Hz)?
    for k in range(0, len(speech) - window, window):
        part = speech[k : k + window]
        if np.abs(part).mean() > 0.05:
            deep.append(band_energy(part, 70, 150) / band_energy(part, 70, 4000) > 0.01)
    assert 0.2 < np.mean(deep) < 0.8


def test_engine_passes_the_voices_to_the_track() -> None:
    def clip_audio(voices: tuple[str, ...]) -> np.ndarray:
        request = RenderRequest(
            mode="reference-to-video",
            prompt=PROMPT,
            width=64,
            height=64,
            num_frames=24,
            seed=3,
            voices=voices,
        )
        audio = PreviewEngine().render(request).audio()
        assert audio is not None
        return audio

    plain, ara, rex = clip_audio(()), clip_audio(("ara",)), clip_audio(("rex",))
    assert np.array_equal(plain, procedural_audio(PROMPT, 3, 1.0))
    assert np.array_equal(ara, procedural_audio(PROMPT, 3, 1.0, ("ara",)))
    assert np.abs(ara - plain).mean() > 0.02 and np.abs(ara - rex).mean() > 0.02


# Block-wise synthesis: seamless, and memory that does not grow with the duration.

EVERYTHING = "rain and wind in a city street, birds, a campfire, music and dancing by the ocean"


def steps(track: np.ndarray) -> np.ndarray:
    """The largest sample-to-sample jump of either channel, per sample pair."""
    return np.abs(np.diff(track.astype(np.float64), axis=0)).max(axis=1)


def test_the_blocks_do_not_change_the_sound(monkeypatch: pytest.MonkeyPatch) -> None:
    voices = ("ara", "rex")
    track = procedural_audio(EVERYTHING, 7, 3.0, voices)
    assert np.all(np.isfinite(track)) and np.abs(track).max() <= 1.0
    assert len(track) > 3 * audio._BLOCK  # several seams
    # Phases, envelopes, noise filters and the formant filter all run on across the seams: the
    # same track, to float32 rounding, from blocks of a few hops or of an odd number of them.
    for hops in (5, 13):
        monkeypatch.setattr(audio, "_BLOCK", hops * audio._HOP)
        small = procedural_audio(EVERYTHING, 7, 3.0, voices)
        assert np.abs(small - track).max() < 1e-5, hops
        seams = steps(small)[np.arange(audio._BLOCK, len(small), audio._BLOCK) - 1]
        assert seams.mean() < 1.5 * steps(small).mean()


@pytest.mark.parametrize("voices", [(), ("una",)])
def test_no_clicks_at_block_seams(voices: tuple[str, ...]) -> None:
    track = procedural_audio("a calm night", 7, 4.0, voices)
    jumps = steps(track)
    for seam in range(audio._BLOCK - 1, len(jumps), audio._BLOCK):
        nearby = np.concatenate([jumps[seam - 256 : seam], jumps[seam + 1 : seam + 257]])
        assert jumps[seam] <= 1.5 * nearby.max(), seam


def test_memory_does_not_grow_with_the_duration() -> None:
    def traced_peak(seconds: float) -> int:
        tracemalloc.start()
        try:
            procedural_audio(EVERYTHING, 1, seconds, ("ara", "leo"))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    procedural_audio(EVERYTHING, 1, 0.5, ("ara", "leo"))  # warm up: lazy imports, caches
    short, long = traced_peak(2.0), traced_peak(15.0)
    output = 15 * AUDIO_RATE * 2 * 4  # the float32 (n, 2) result itself
    assert long <= 1.3 * short + output, (short, long)
