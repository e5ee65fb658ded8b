"""Watermark robustness and speed: provgate's watermark against the `invisible-watermark`
package (dwtDct and dwtDctSvd) on the same clips and attacks, in the same run.

    make bench-deps   # the baseline: invisible-watermark (--no-deps), opencv-python-headless, PyWavelets
    .venv/bin/python bench/watermark.py [--seconds 10]

Per attack: bit accuracy of the 48 payload bits before error correction (the channel, as
Video Seal reports it) and exact payload recovery after it. The baseline has no error
correction or sync: its bits are averaged over the frames of the segment and read raw.
A 2-second segment is decoded in every case.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from attacks import ATTACKS, attacked_segment, busy_clip  # noqa: E402

from generator.base import GenerationSpec  # noqa: E402
from generator.procedural import ProceduralGenerator  # noqa: E402
from provenance.media import encode_mp4  # noqa: E402
from provenance.watermark import PAYLOAD_BITS, SpreadSpectrumWatermark  # noqa: E402

PAYLOAD = 0xB7E151628AED
TRUTH = np.array([(PAYLOAD >> (47 - i)) & 1 for i in range(48)], dtype=np.uint8)


def _load_baseline() -> dict[str, type]:
    """The package's dwtDct / dwtDctSvd classes, loaded without its torch-only rivaGan module."""
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("baseline missing: run `make bench-deps`")
    base = Path(next(iter(spec.submodule_search_locations)))
    out = {}
    for name, file, cls in (("dwtDct", "maxDct.py", "EmbedMaxDct"), ("dwtDctSvd", "dwtDctSvd.py", "EmbedDwtDctSvd")):
        s = importlib.util.spec_from_file_location(f"imwatermark_{file[:-3]}", base / file)
        mod = importlib.util.module_from_spec(s)  # type: ignore[arg-type]
        s.loader.exec_module(mod)  # type: ignore[union-attr]
        out[name] = getattr(mod, cls)
    return out


class Baseline:
    def __init__(self, name: str, cls: type) -> None:
        self.name, self.cls = name, cls

    def embed(self, frames: np.ndarray) -> np.ndarray:
        enc = self.cls(watermarks=list(TRUTH), wmLen=48)
        return np.stack([enc.encode(f[:, :, ::-1].copy())[:, :, ::-1] for f in frames]).astype(np.uint8)

    def decode(self, frames: np.ndarray) -> tuple[float, bool]:
        dec = self.cls(watermarks=[], wmLen=48)
        bits = np.mean([np.asarray(dec.decode(f[:, :, ::-1].copy()), dtype=np.float64) for f in frames], axis=0)
        hard = (bits > 0.5).astype(np.uint8)
        acc = float((hard == TRUTH).mean())
        return acc, acc == 1.0


class Ours:
    name = "provgate"

    def __init__(self) -> None:
        self.wm = SpreadSpectrumWatermark(b"bench-key-0123456789abcdef")

    def embed(self, frames: np.ndarray) -> np.ndarray:
        return self.wm.embed(frames.copy(), PAYLOAD)

    def decode(self, frames: np.ndarray) -> tuple[float, bool]:
        det = self.wm.detect(frames)
        raw = det.coded_bits[:PAYLOAD_BITS]  # systematic BCH: the payload bits come first
        return float((raw == self.wm.codeword(PAYLOAD)[:PAYLOAD_BITS]).mean()), det.payload == PAYLOAD


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


def run_clip(label: str, frames: np.ndarray, methods: list, tmp: Path) -> None:
    fps = 24
    print(f"\n## clip: {label} ({len(frames)} frames {frames.shape[2]}x{frames.shape[1]})", flush=True)
    released: dict[str, Path] = {}
    speed: dict[str, tuple[float, float, float]] = {}
    for m in methods:
        t0 = time.perf_counter()
        marked = m.embed(frames)
        embed_fps = len(frames) / (time.perf_counter() - t0)
        q = psnr(marked, frames)
        path = tmp / f"{label}-{m.name}.mp4"
        encode_mp4(path, marked, np.zeros((int(len(frames) / fps * 48000), 2), np.float32), fps, 48000)
        released[m.name] = path
        seg = attacked_segment(path, "none (as released)", source_frames=48)
        t0 = time.perf_counter()
        m.decode(seg)
        decode_fps = len(seg) / (time.perf_counter() - t0)
        speed[m.name] = (embed_fps, decode_fps, q)
    names = [m.name for m in methods]
    print("| attack | " + " | ".join(f"{n} bit acc | {n} exact" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    for attack in ATTACKS:
        cells = []
        for m in methods:
            acc, exact = m.decode(attacked_segment(released[m.name], attack, source_frames=len(frames)))
            cells += [f"{acc:.3f}", "yes" if exact else "no"]
        print(f"| {attack} | " + " | ".join(cells) + " |", flush=True)
    print("| PSNR (dB) | " + " | ".join(f"{speed[n][2]:.1f} | " for n in names) + "|")
    print("| embed frames/s | " + " | ".join(f"{speed[n][0]:.1f} | " for n in names) + "|")
    print("| decode frames/s (2 s segment) | " + " | ".join(f"{speed[n][1]:.1f} | " for n in names) + "|")


def false_positives(n: int) -> None:
    """Unmarked 2 s segments (procedural, busy texture, noise) through the full detector
    (every sync hypothesis, then the first frame alone): any payload found is a false positive."""
    wm = Ours().wm
    rng = np.random.default_rng(11)
    found = 0
    t0 = time.perf_counter()
    for i in range(n):
        kind = i % 3
        if kind == 0:
            seg = ProceduralGenerator().generate(GenerationSpec(f"an unmarked scene {i}", i, 2, "480p")).frames
        elif kind == 1:
            seg = busy_clip(2, size=(854, 480), seed=100 + i)
        else:
            seg = rng.integers(0, 256, size=(48, 480, 854, 3), dtype=np.uint8)
        found += wm.detect(seg).found
    per = (time.perf_counter() - t0) / max(1, n)
    print(f"\nfalse positives: {found} of {n} unmarked 2 s segments x {len(wm.syncs)} sync hypotheses ", end="")
    print(f"(+ first frame alone); {per:.2f} s per segment")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--false-positive-clips", type=int, default=99)
    args = ap.parse_args()
    false_positives(args.false_positive_clips)
    baseline = _load_baseline()
    methods = [Ours(), Baseline("dwtDct", baseline["dwtDct"]), Baseline("dwtDctSvd", baseline["dwtDctSvd"])]
    clips = {
        "procedural 720p": ProceduralGenerator()
        .generate(GenerationSpec("a lighthouse", 1, args.seconds, "720p"))
        .frames,
        "busy texture 720p": busy_clip(args.seconds),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, frames in clips.items():
            run_clip(label.replace(" ", "-"), frames, methods, Path(tmp))


if __name__ == "__main__":
    main()
