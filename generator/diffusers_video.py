"""In-process GPU generator: a diffusers text-to-video (and image-to-video) pipeline loaded
once from a local model directory, run in the worker process.

    PROVGATE_GENERATOR=diffusers
    PROVGATE_MODELS_DIR=/models                 # read-only volume in Kubernetes
    PROVGATE_DIFFUSERS_MODEL=wan2.2-t2v-a14b    # a directory under PROVGATE_MODELS_DIR
    PROVGATE_DIFFUSERS_STEPS=30  PROVGATE_DIFFUSERS_FPS=16  PROVGATE_DIFFUSERS_GUIDANCE=5.0
    PROVGATE_DIFFUSERS_RENDER=832x480           # native size; resized on the device to the request
    PROVGATE_DIFFUSERS_DEVICE=cuda              # default: cuda when available, else cpu

Any pipeline that diffusers can load with ``DiffusionPipeline.from_pretrained`` from that
directory (``model_index.json``) and that returns video frames works; written for and
documented against:

- Wan 2.1 T2V 1.3B (WanPipeline): 832x480 at 16 fps, about 8-10 GB.
- Wan 2.2 T2V / I2V A14B (WanPipeline, WanImageToVideoPipeline): 1280x720 at 16 fps,
  40-80 GB (one 80 GB GPU, or CPU offload).
- LTX-Video 0.9.x (LTXPipeline): 768x512 at 24 fps, 12-24 GB. LTX-2 makes video with
  synchronised audio (about 32-48 GB); its audio output is not wired yet: this backend
  returns a silent soundtrack, which provgate still marks and signs.

The figures are the model cards' and community reports, not measured here (no GPU on the
build machines); the first GPU run records its own in bench/RESULTS.md.

The weights are loaded once (``start``), each job gets a seeded ``torch.Generator``, and the
frames stay a tensor on the device: resized there to the requested resolution, marked there
with the pipeline's ``device_marker`` (the invisible watermark), then copied to the CPU once.
A job whose lease is lost is interrupted between denoising steps.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import GeneratedMedia, GenerationSpec, Generator, GeneratorError


class _Cancelled(Exception):
    pass


class DiffusersVideoGenerator(Generator):
    name = "diffusers"

    def __init__(
        self,
        model_dir: Path,
        *,
        steps: int = 30,
        fps: int = 16,
        guidance: float | None = None,
        render: tuple[int, int] | None = None,
        device: str | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.steps = steps
        self.fps = fps
        self.guidance = guidance
        self.render = render
        self.device_name = device
        self._pipe: Any = None
        self._lock = threading.Lock()  # one pipeline, one job at a time on its device

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DiffusersVideoGenerator:
        env = os.environ if env is None else env
        models = env.get("PROVGATE_MODELS_DIR")
        if not models:
            raise ValueError("PROVGATE_MODELS_DIR is not set (the directory that holds the diffusers model)")
        name = env.get("PROVGATE_DIFFUSERS_MODEL", "text-to-video")
        render = env.get("PROVGATE_DIFFUSERS_RENDER")
        size = None
        if render:
            try:
                w, h = (int(x) for x in render.lower().split("x"))
            except ValueError:
                raise ValueError(f"PROVGATE_DIFFUSERS_RENDER={render!r} is not WIDTHxHEIGHT") from None
            size = (w, h)
        guidance = env.get("PROVGATE_DIFFUSERS_GUIDANCE")
        return cls(
            Path(models) / name,
            steps=int(env.get("PROVGATE_DIFFUSERS_STEPS", "30")),
            fps=int(env.get("PROVGATE_DIFFUSERS_FPS", "16")),
            guidance=float(guidance) if guidance else None,
            render=size,
            device=env.get("PROVGATE_DIFFUSERS_DEVICE"),
        )

    @property
    def model(self) -> str:
        meta = self.model_dir / "provgate.json"  # optional {"name": "Wan2.2-T2V-A14B"}
        if meta.is_file():
            return str(json.loads(meta.read_text()).get("name", self.model_dir.name))
        return self.model_dir.name

    def start(self) -> None:
        if self._pipe is not None:
            return
        if not (self.model_dir / "model_index.json").is_file():
            raise GeneratorError(f"no diffusers model at {self.model_dir} (model_index.json missing)", retriable=False)
        try:
            import torch
            from diffusers import DiffusionPipeline
        except ImportError as exc:
            raise RuntimeError("the 'diffusers' generator needs the 'gpu' extra (torch, diffusers)") from exc
        device = self.device_name or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        pipe = DiffusionPipeline.from_pretrained(str(self.model_dir), dtype=dtype, local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe.to(device)
        self._device = device

    def stop(self) -> None:
        self._pipe = None

    def _call(self, spec: GenerationSpec, cancelled: Callable[[], bool]) -> Any:
        import torch

        pipe = self._pipe
        params = inspect.signature(pipe.__call__).parameters
        w, h = self.render or spec.size
        kwargs: dict[str, Any] = {
            "prompt": spec.prompt,
            "num_frames": max(1, round(spec.duration_s * self.fps)),
            "height": h // 8 * 8,
            "width": w // 8 * 8,
            "num_inference_steps": self.steps,
            "generator": torch.Generator(device="cpu").manual_seed(spec.seed),
            "output_type": "pt",
        }
        if self.guidance is not None and "guidance_scale" in params:
            kwargs["guidance_scale"] = self.guidance
        if spec.input_image is not None:
            if "image" not in params:
                raise GeneratorError(
                    f"{self.model} is a text-to-video model: it cannot start from an input image",
                    retriable=False,
                    code="input_image_unsupported",
                )
            kwargs["image"] = Image.fromarray(spec.input_image)

        def on_step(pipeline: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            if cancelled():
                raise _Cancelled()
            return callback_kwargs

        if "callback_on_step_end" in params:
            kwargs["callback_on_step_end"] = on_step
        elif "callback" in params:
            kwargs["callback"] = lambda step, t, latents: on_step(pipe, step, t, {})
            kwargs["callback_steps"] = 1
        return pipe(**kwargs).frames

    def _generate(self, spec: GenerationSpec, cancelled: Callable[[], bool]) -> GeneratedMedia:
        import torch
        import torch.nn.functional as F  # noqa: N812

        self.start()
        with self._lock, torch.inference_mode():
            try:
                out = self._call(spec, cancelled)
            except _Cancelled:
                raise GeneratorError("cancelled between denoising steps", retriable=False, code="cancelled") from None
            except torch.cuda.OutOfMemoryError as exc:
                raise GeneratorError(f"GPU out of memory: {exc}", retriable=True, code="gpu_oom") from exc
            video = out[0] if isinstance(out, (list, tuple)) else out
            video = torch.as_tensor(video) if not isinstance(video, torch.Tensor) else video
            if video.ndim == 5:
                video = video[0]
            # T x C x H x W float in [0, 1] on the device (diffusers' "pt" layout).
            if video.shape[1] != 3 and video.shape[-1] == 3:
                video = video.permute(0, 3, 1, 2)
            w, h = spec.size
            if video.shape[-2:] != (h, w):
                video = F.interpolate(video.float(), size=(h, w), mode="bilinear", align_corners=False)
            frames = (video.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
            marked = False
            if spec.device_marker is not None:
                frames = spec.device_marker(frames)  # the invisible watermark, on the device
                marked = True
            frames_np = frames.cpu().numpy()  # the single copy to the CPU
        n_audio = int(round(len(frames_np) / self.fps * spec.sample_rate))
        return GeneratedMedia(
            frames=np.ascontiguousarray(frames_np),
            audio=np.zeros((n_audio, 2), np.float32),
            fps=self.fps,
            sample_rate=spec.sample_rate,
            model=self.model,
            marked=marked,
        )
