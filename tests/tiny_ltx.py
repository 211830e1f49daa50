"""A tiny random LTX-Video pipeline, built from configs and saved as a local diffusers folder.

Like tests/tiny_wan.py: nothing is downloaded (a 1-layer T5 encoder over tiny_wan's word-level
tokenizer), the weights are random and the videos noise. The VAE keeps LTX's real strides
(32 px, 8 frames: patch 4 x three 2x downsamplings), so the native shapes are LTX's own.
"""

from __future__ import annotations

from pathlib import Path

from tests.tiny_wan import TINY_OPTIONS, VOCAB_SIZE, word_tokenizer

# the catalog entry shared by the tests: every mode the family can do, pins anywhere
ENTRY = {
    **TINY_OPTIONS,
    "family": "ltx",
    "max_area": 64 * 32,
    "modes": ["text-to-video", "image-to-video", "extension", "edit"],
    "last_frame": True,
    "max_keyframes": 2,
}


def build(root: Path) -> Path:
    """The LTXConditionPipeline folder under root (built once; reused if present)."""
    folder = root / "ltx"
    if (folder / "model_index.json").exists():
        return folder
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=VOCAB_SIZE,
            d_model=32,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
        )
    )
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        timestep_conditioning=True,  # as LTX 0.9.1+: decode_timestep reaches the VAE
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=1,
        caption_channels=32,
    )
    LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=word_tokenizer(),
        transformer=transformer,
    ).save_pretrained(folder)
    return folder
