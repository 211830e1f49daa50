"""Tiny random Wan pipelines, built from configs and saved as local diffusers folders.

Nothing is downloaded: the UMT5 encoder, the word-level tokenizer, the CLIP image encoder, the
VAE and the transformers are all built from small configs with fixed seeds. The weights are
random, so the videos are noise; tests check plumbing (shapes, pins, progress, errors).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = "a an the cat dog bird red blue green runs walks flies over under hill sky sea".split()

# catalog entries shared by the tests and the benchmark: small, fast, 2 denoising steps
TINY_OPTIONS = {"steps": 2, "max_area": 48 * 32, "max_sequence_length": 16, "guidance_scale": 1.0}


VOCAB_SIZE = 3 + len(WORDS)


def word_tokenizer():
    """A T5-style (pad 0, eos 1) word-level tokenizer over WORDS, built locally."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {w: 3 + i for i, w in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build(root: Path) -> dict[str, Path]:
    """Folders {"t2v", "i2v", "vace", "broken"} under root (built once; reused if present)."""
    folders = {name: root / name for name in ("t2v", "i2v", "vace", "broken")}
    if all((f / "model_index.json").exists() for f in folders.values()):
        return folders
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    def common(text_dim: int = 32) -> dict:
        torch.manual_seed(0)
        return {
            "tokenizer": word_tokenizer(),
            "text_encoder": UMT5EncoderModel(
                UMT5Config(
                    vocab_size=VOCAB_SIZE,
                    d_model=text_dim,
                    d_kv=8,
                    d_ff=32,
                    num_layers=1,
                    num_heads=4,
                    relative_attention_num_buckets=8,
                )
            ),
            "vae": AutoencoderKLWan(
                base_dim=3,
                z_dim=16,
                dim_mult=[1, 1, 1, 1],
                num_res_blocks=1,
                temperal_downsample=[False, True, True],
            ),
            "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
        }

    transformer = dict(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    torch.manual_seed(0)
    WanPipeline(
        **common(), transformer=WanTransformer3DModel(in_channels=16, num_layers=2, **transformer)
    ).save_pretrained(folders["t2v"])
    # The broken one loads fine and fails at the first denoising step: its transformer expects
    # 32-wide text embeddings, its text encoder makes 24-wide ones.
    WanPipeline(
        **common(text_dim=24),
        transformer=WanTransformer3DModel(in_channels=16, num_layers=2, **transformer),
    ).save_pretrained(folders["broken"])
    torch.manual_seed(0)
    # Wan 2.2 I2V style: the first (and last) frame reach the model through the VAE latents and
    # the mask channels (in_channels 16 + 4 + 16), no CLIP image encoder.
    WanImageToVideoPipeline(
        **common(),
        transformer=WanTransformer3DModel(in_channels=36, num_layers=2, **transformer),
    ).save_pretrained(folders["i2v"])
    torch.manual_seed(0)
    WanVACEPipeline(
        **common(),
        transformer=WanVACETransformer3DModel(
            in_channels=16, num_layers=3, vace_layers=[0, 2], vace_in_channels=96, **transformer
        ),
    ).save_pretrained(folders["vace"])
    return folders


def catalog_toml(folders: dict[str, Path], **overrides: dict) -> str:
    """A catalog with one model per folder ("tiny-t2v", ...), TINY_OPTIONS, 480p, 1-2 s."""
    entries = {
        "tiny-t2v": {"path": folders["t2v"], "modes": ["text-to-video", "edit"]},
        "tiny-i2v": {
            "path": folders["i2v"],
            "modes": ["image-to-video", "extension"],
            "last_frame": True,
        },
        "tiny-vace": {
            "path": folders["vace"],
            "modes": ["text-to-video", "image-to-video", "reference-to-video", "extension"],
            "last_frame": True,
            "frame_pinning": True,
            "max_keyframes": 2,
            "max_reference_images": 2,
        },
        "tiny-broken": {"path": folders["broken"], "modes": ["text-to-video"]},
    }
    # other models (tiny_ltx's, a slow one...) get the same resolutions and durations
    entries |= {k: v for k, v in overrides.items() if k not in entries}
    text = ""
    for model_id, entry in entries.items():
        entry = {**TINY_OPTIONS, **entry, **overrides.get(model_id, {})}
        durations = {m: [1, 3 if m == "extension" else 2] for m in entry["modes"] if m != "edit"}
        entry = {"engine": "diffusers", "resolutions": ["480p"], **entry, "durations": durations}
        text += model_toml(model_id, entry)
    return text


def model_toml(model_id: str, entry: dict) -> str:
    """One catalog entry as TOML: tables (cache, durations) and arrays of tables (lora) after
    the plain keys."""
    lines, tables = [f'[models."{model_id}"]'], []
    for key, value in entry.items():
        if isinstance(value, dict):
            tables.append(f'[models."{model_id}".{key}]')
            tables += [f'"{k}" = {_toml(v)}' for k, v in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                tables.append(f'[[models."{model_id}".{key}]]')
                tables += [f"{k} = {_toml(v)}" for k, v in item.items()]
        else:
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines + tables) + "\n"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
