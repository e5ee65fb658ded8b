"""A randomly initialised OpenCLIP checkpoint in the layout the service loads
(open_clip_config.json + open_clip_model.safetensors): no CLIP weights ship offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
VIT_B_32: dict[str, Any] = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
}


def write_checkpoint(directory: Path, model_cfg: dict[str, Any] = TINY, seed: int = 0) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    cfg = {
        "model_cfg": model_cfg,
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
    }
    (directory / "open_clip_config.json").write_text(json.dumps(cfg))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    save_file(model.state_dict(), str(directory / "open_clip_model.safetensors"))
    return directory
