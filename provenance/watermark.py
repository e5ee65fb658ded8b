"""Invisible video watermark: keyed spread-spectrum on a resolution-relative grid, with
BCH error correction and a synchronisation search that undoes crops and rescales.

Payload: 48 bits (a keyed hash of the generation id) + CRC-16 = 64 bits, coded with the
binary BCH(127, 64) code (any 10 wrong bits corrected, ~14 with soft Chase decoding;
``provenance.bch``). The frame is divided into a GRID x GRID grid of cells, each cell into
SUB x SUB sub-blocks; every cell carries one coded bit (keyed permutation, ~GRID^2/127
cells per bit), modulated by a keyed zero-mean +-1 sub-block texture and a keyed chip sign.
The pattern is upsampled smoothly to the frame size and added to luma (equally on R, G, B)
at a small amplitude.

Decoding averages the frames of a segment (content moves, the mark does not), maps the
result back onto the original grid for each synchronisation hypothesis (crop scale and
offset), removes the local mean, correlates every cell with its texture, combines the
cells of each bit, and accepts the first hypothesis whose hard bits decode to a payload
with a valid CRC; then the most confident hypotheses get the soft (Chase) search. If the
average fails, the segment's first frame is tried alone (after a heavy re-encode of busy
moving content, only intra-coded frames keep the mark).
Rescaling needs no search (the grid is relative to the frame); re-encoding, brightness and
contrast only weaken the signal; frame-rate changes and trimming do not matter because the
pattern is the same on every frame.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from reedsolo import ReedSolomonError, RSCodec

from . import bch

ALGORITHM = "org.provgate.watermark.ssgrid.v3"
PAYLOAD_BITS = 48
PARITY_BYTES = 4
CODED_BITS = (PAYLOAD_BITS // 8 + 2 + PARITY_BYTES) * 8  # 96: the Reed-Solomon word (audio mark)
VIDEO_BITS = bch.N  # 127: the BCH word carried by the video mark
SOFT_HYPOTHESES = 12  # sync hypotheses (the most confident) that also get the soft-decision search
GRID = 32
SUB = 4
SIDE = GRID * SUB
_RS = RSCodec(PARITY_BYTES)


def crc16(data: bytes) -> bytes:
    """CRC-16/CCITT-FALSE."""
    reg = 0xFFFF
    for byte in data:
        reg ^= byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1021) if reg & 0x8000 else reg << 1
            reg &= 0xFFFF
    return reg.to_bytes(2, "big")


def encode_payload(payload: int) -> np.ndarray:
    if not 0 <= payload < 2**PAYLOAD_BITS:
        raise ValueError(f"payload must fit in {PAYLOAD_BITS} bits")
    data = payload.to_bytes(PAYLOAD_BITS // 8, "big")
    coded = bytes(_RS.encode(data + crc16(data)))
    return np.unpackbits(np.frombuffer(coded, dtype=np.uint8))


def decode_bits(bits: np.ndarray, soft: np.ndarray | None = None) -> int | None:
    """Coded bits -> payload, or None when RS cannot correct them or the CRC disagrees.

    With ``soft`` values, a failed hard decision is retried with the one or two least
    reliable bytes marked as erasures (2 errors, or 1 error + 2 erasures, fit the 4 parity
    bytes). More erasures would let RS "correct" almost any word, leaving only the CRC
    against false detections, so the search stops at two.
    """
    coded = np.packbits(bits.astype(np.uint8)).tobytes()
    attempts: list[list[int]] = [[]]
    if soft is not None:
        reliability = np.abs(soft).reshape(-1, 8).min(axis=1)
        order = [int(i) for i in np.argsort(reliability)]
        attempts += [sorted(order[:k]) for k in (1, 2)]
    for erase in attempts:
        try:
            message = bytes(_RS.decode(coded, erase_pos=erase or None)[0])
        except ReedSolomonError:
            continue
        data, check = message[:-2], message[-2:]
        if crc16(data) == check:
            return int.from_bytes(data, "big")
    return None


def encode_video_payload(payload: int) -> np.ndarray:
    """Payload -> the 127 BCH code bits of the video mark (payload + CRC-16 as the message)."""
    if not 0 <= payload < 2**PAYLOAD_BITS:
        raise ValueError(f"payload must fit in {PAYLOAD_BITS} bits")
    data = payload.to_bytes(PAYLOAD_BITS // 8, "big")
    return bch.encode(int.from_bytes(data + crc16(data), "big"))


def decode_video_bits(bits: np.ndarray, soft: np.ndarray | None = None) -> int | None:
    """127 coded bits (+ soft values) -> payload, or None when BCH fails or the CRC disagrees."""
    message = bch.decode(bits, soft)
    if message is None:
        return None
    data = message.to_bytes(8, "big")
    return int.from_bytes(data[:6], "big") if crc16(data[:6]) == data[6:] else None


def derive_payload(key: bytes, generation_id: str, attempt: int = 0) -> int:
    """48-bit payload from a keyed hash; ``attempt`` > 0 re-derives after a collision."""
    msg = generation_id.encode() if attempt == 0 else f"{generation_id}:{attempt}".encode()
    return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:6], "big")


@dataclass(frozen=True)
class Sync:
    scale: float  # the visible part's side as a fraction of the original side
    ox: float  # left edge of the visible part, fraction of the original width
    oy: float


@dataclass(frozen=True)
class Detection:
    found: bool
    payload: int | None
    confidence: float
    coded_bits: np.ndarray
    sync: Sync | None = None
    tried: int = 0
    soft: np.ndarray = field(default_factory=lambda: np.zeros(VIDEO_BITS))


def default_syncs() -> list[Sync]:
    """Centre crops keeping 100 % down to 70 % of each side, each with +-1/4 sub-block jitter."""
    out = [Sync(1.0, 0.0, 0.0)]
    step = 0.25 / SIDE
    for scale in np.arange(0.975, 0.695, -0.025):
        centre = (1 - scale) / 2
        for dx, dy in itertools.product((0.0, -step, step), repeat=2):
            out.append(Sync(float(scale), centre + dx, centre + dy))
    return out


class SpreadSpectrumWatermark:
    algorithm = ALGORITHM

    def __init__(self, key: bytes, *, strength: float = 2.0) -> None:
        if len(key) < 16:
            raise ValueError("watermark key must be at least 16 bytes")
        self.strength = strength
        seed = int.from_bytes(hashlib.sha256(b"provgate-wm-layout-v2\x00" + key).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        cells = GRID * GRID
        self._bit_of_cell = rng.permutation(np.arange(cells) % VIDEO_BITS)
        self._chip = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=cells)
        base = np.array([1.0] * (SUB * SUB // 2) + [-1.0] * (SUB * SUB // 2), dtype=np.float32)
        self._texture = np.stack([rng.permutation(base) for _ in range(cells)]).reshape(GRID, GRID, SUB, SUB)
        self._cache: dict[tuple[object, ...], object] = {}
        self.syncs = default_syncs()

    # -- embedding -------------------------------------------------------------------
    def codeword(self, payload: int) -> np.ndarray:
        return encode_video_payload(payload)

    def pattern(self, payload: int, height: int, width: int) -> np.ndarray:
        """The additive luma pattern (int16) for one frame size."""
        key = ("pattern", payload, height, width)
        if key not in self._cache:
            signs = self.codeword(payload).astype(np.float32) * 2 - 1
            cell_val = (signs[self._bit_of_cell] * self._chip).reshape(GRID, GRID)
            grid = (self._texture * cell_val[:, :, None, None]).transpose(0, 2, 1, 3).reshape(SIDE, SIDE)
            img = Image.fromarray(grid.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
            pat = np.array(img, dtype=np.float32)
            pat *= self.strength / max(1e-6, float(np.abs(pat).mean()))
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = np.rint(pat).astype(np.int16)
        return self._cache[key]  # type: ignore[return-value]

    def _planes(self, payload: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = ("planes", payload, height, width)
        if key not in self._cache:
            pat = self.pattern(payload, height, width)
            # Full H x W x 3 contiguous planes: broadcasting over the channel axis is 3x slower.
            pos = np.repeat(np.clip(pat, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            neg = np.repeat(np.clip(-pat, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            self._cache[key] = (pos, 255 - pos, neg)
        return self._cache[key]  # type: ignore[return-value]

    def embed_frame(self, frame: np.ndarray, payload: int) -> np.ndarray:
        """Mark one H x W x 3 uint8 frame in place with saturating uint8 arithmetic (no copies)."""
        pos, pos_room, neg = self._planes(payload, frame.shape[0], frame.shape[1])
        np.minimum(frame, pos_room, out=frame)
        frame += pos
        np.maximum(frame, neg, out=frame)
        frame -= neg
        return frame

    def embed(self, frames: np.ndarray, payload: int) -> np.ndarray:
        """Mark every frame in place (T x H x W x 3 uint8) and return it."""
        for frame in frames:
            self.embed_frame(frame, payload)
        return frames

    def embed_torch(self, frames: Any, payload: int) -> Any:
        """The same mark on a torch uint8 tensor (T x H x W x 3) where it lives (GPU included),
        so a GPU generator marks before its single copy to the CPU. Bit-identical to ``embed``."""
        import torch

        _, h, w, _ = frames.shape
        key = ("torch", payload, h, w, str(frames.device))
        if key not in self._cache:
            self._cache[key] = torch.from_numpy(self.pattern(payload, h, w)).to(frames.device).unsqueeze(-1)
        pattern: Any = self._cache[key]
        return (frames.to(torch.int16) + pattern).clamp_(0, 255).to(torch.uint8)

    # -- detection -------------------------------------------------------------------
    @staticmethod
    def average_luma(frames: np.ndarray) -> np.ndarray:
        # Sum over time first (contiguous, integer), then over the three channels: 6x faster
        # than reducing both axes at once.
        acc = frames.sum(axis=0, dtype=np.uint32).sum(axis=2, dtype=np.uint32)
        return acc.astype(np.float32) / (3.0 * max(1, len(frames)))

    def _regrid(self, luma: np.ndarray, sync: Sync) -> tuple[np.ndarray, np.ndarray]:
        """Resample the observed luma onto the original SIDE x SIDE grid; returns (grid, valid cells)."""
        h, w = luma.shape
        img = Image.fromarray(luma, mode="F")
        if sync.scale >= 0.999 and sync.ox == 0 and sync.oy == 0:
            return np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float32), np.ones(
                (GRID, GRID), bool
            )
        # Observed pixels per original grid pixel, reduced first (BOX) to 2 px per grid pixel.
        inter = (max(2, round(2 * SIDE * sync.scale)), max(2, round(2 * SIDE * sync.scale)))
        small = img.resize(inter, Image.Resampling.BOX)
        sx, sy = inter[0] / sync.scale, inter[1] / sync.scale  # the full original in `small` pixels
        box = (-sync.ox * sx, -sync.oy * sy, (1 - sync.ox) * sx, (1 - sync.oy) * sy)
        full = small.transform((2 * SIDE, 2 * SIDE), Image.Transform.EXTENT, box, Image.Resampling.BILINEAR)
        grid = np.asarray(full.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float32)
        # Cells entirely inside the visible part.
        lo_x, hi_x = sync.ox * GRID, (sync.ox + sync.scale) * GRID
        lo_y, hi_y = sync.oy * GRID, (sync.oy + sync.scale) * GRID
        idx = np.arange(GRID)
        valid = (
            (idx[:, None] >= np.ceil(lo_y))
            & (idx[:, None] + 1 <= np.floor(hi_y))
            & (idx[None, :] >= np.ceil(lo_x))
            & (idx[None, :] + 1 <= np.floor(hi_x))
        )
        return grid, valid

    def soft_bits(self, luma_grid: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        pad = np.pad(luma_grid, 1, mode="edge")
        local = sum(pad[dy : dy + SIDE, dx : dx + SIDE] for dy in range(3) for dx in range(3)) / 9.0
        resid = (luma_grid - local).reshape(GRID, SUB, GRID, SUB).transpose(0, 2, 1, 3)
        corr = (resid * self._texture).sum(axis=(2, 3))
        if valid is not None:
            corr = np.where(valid, corr, 0.0)
        corr = corr.reshape(-1) * self._chip
        soft = np.zeros(VIDEO_BITS, dtype=np.float64)
        np.add.at(soft, self._bit_of_cell, corr)
        return soft

    def detect(self, frames: np.ndarray, *, syncs: list[Sync] | None = None) -> Detection:
        """Look for a payload in a segment of frames (T x H x W x 3), trying each sync hypothesis."""
        luma = self.average_luma(frames)
        tried: list[Detection] = []
        for n, sync in enumerate(syncs or self.syncs, start=1):
            grid, valid = self._regrid(luma, sync)
            soft = self.soft_bits(grid, valid)
            bits = (soft > 0).astype(np.uint8)
            confidence = float(np.abs(soft).mean() / (soft.std() + 1e-9))
            payload = decode_video_bits(bits)  # hard decision first: cheap, for every hypothesis
            if payload is not None:
                return Detection(True, payload, confidence, bits, sync, n, soft)
            tried.append(Detection(False, None, confidence, bits, sync, n, soft))
        # The soft (Chase) search costs 16 decodings: only for the most confident hypotheses,
        # where the right synchronisation is (and fewer attempts keep false positives rare).
        tried.sort(key=lambda d: -d.confidence)
        for d in tried[:SOFT_HYPOTHESES]:
            payload = decode_video_bits(d.coded_bits, d.soft)
            if payload is not None:
                return Detection(True, payload, d.confidence, d.coded_bits, d.sync, d.tried, d.soft)
        best = tried[0]
        if len(frames) > 1:
            # Heavy re-encodes of busy, moving content keep the mark only in intra-coded frames:
            # motion-compensated P-frames carry the previous frame's mark along with the motion,
            # and the average over the segment blurs it away. The first frame of a file (or of a
            # segment cut at a keyframe) is intra-coded; try it alone.
            first = self.detect(frames[:1], syncs=syncs)
            if first.found:
                return first
        return Detection(False, None, best.confidence, best.coded_bits, None, len(syncs or self.syncs), best.soft)

    def bit_errors(self, detection: Detection, payload: int) -> int:
        return int((detection.coded_bits != self.codeword(payload)).sum())
