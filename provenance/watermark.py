"""Invisible video watermark: keyed spread-spectrum on a resolution-relative grid.

Payload: 48 bits (a keyed hash of the generation id) + CRC-16 = 64 coded bits. The frame
is divided into a 32 x 32 grid of cells, each cell into 4 x 4 sub-blocks; every cell
carries one coded bit (16 cells per bit, keyed permutation), modulated by a keyed
zero-mean +-1 sub-block texture and a keyed chip sign. The 128 x 128 pattern is upsampled
smoothly to the frame size and added to luma (equal on R, G, B) at a small amplitude.

Decoding averages the frames of a segment (content moves, the mark does not), resamples
to 128 x 128, removes the local mean, and correlates each cell with its texture; the CRC
tells a real payload from noise. Because the grid is relative to the frame, rescaling
does not desynchronise it; re-encoding only adds noise. Crops shift the grid: the robust
successor (sync search, stronger coding) is the provenance issue's work.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
from PIL import Image

ALGORITHM = "org.provgate.watermark.ssgrid.v1"
PAYLOAD_BITS = 48
CODED_BITS = 64
GRID = 32
SUB = 4
SIDE = GRID * SUB


def crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT over a bit array, returned as 16 bits (MSB first)."""
    reg = 0xFFFF
    for b in bits.astype(np.uint8):
        top = ((reg >> 15) & 1) ^ int(b)
        reg = (reg << 1) & 0xFFFF
        if top:
            reg ^= 0x1021
    return np.array([(reg >> (15 - i)) & 1 for i in range(16)], dtype=np.uint8)


def int_to_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def bits_to_int(bits: np.ndarray) -> int:
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def derive_payload(key: bytes, generation_id: str, attempt: int = 0) -> int:
    """48-bit payload from a keyed hash; ``attempt`` > 0 re-derives after a collision."""
    msg = generation_id.encode() if attempt == 0 else f"{generation_id}:{attempt}".encode()
    return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:6], "big")


@dataclass(frozen=True)
class Detection:
    found: bool
    payload: int | None
    confidence: float
    coded_bits: np.ndarray


class SpreadSpectrumWatermark:
    algorithm = ALGORITHM

    def __init__(self, key: bytes, *, strength: float = 2.0) -> None:
        if len(key) < 16:
            raise ValueError("watermark key must be at least 16 bytes")
        self.strength = strength
        seed = int.from_bytes(hashlib.sha256(b"provgate-wm-layout\x00" + key).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        cells = GRID * GRID
        self._bit_of_cell = rng.permutation(np.arange(cells) % CODED_BITS)
        self._chip = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=cells)
        base = np.array([1.0] * (SUB * SUB // 2) + [-1.0] * (SUB * SUB // 2), dtype=np.float32)
        self._texture = np.stack([rng.permutation(base) for _ in range(cells)]).reshape(GRID, GRID, SUB, SUB)
        self._cache: dict[tuple[object, ...], np.ndarray] = {}

    # -- embedding -------------------------------------------------------------------
    def codeword(self, payload: int) -> np.ndarray:
        if not 0 <= payload < 2**PAYLOAD_BITS:
            raise ValueError(f"payload must fit in {PAYLOAD_BITS} bits")
        bits = int_to_bits(payload, PAYLOAD_BITS)
        return np.concatenate([bits, crc16(bits)])

    def pattern(self, payload: int, height: int, width: int) -> np.ndarray:
        """The additive luma pattern (int16) for one frame size, cached per payload."""
        key = (payload, height, width)
        if key not in self._cache:
            signs = self.codeword(payload).astype(np.float32) * 2 - 1
            cell_val = (signs[self._bit_of_cell] * self._chip).reshape(GRID, GRID)
            grid = (self._texture * cell_val[:, :, None, None]).transpose(0, 2, 1, 3).reshape(SIDE, SIDE)
            img = Image.fromarray(grid.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
            pat = np.array(img, dtype=np.float32)
            pat *= self.strength / max(1e-6, float(np.abs(pat).mean()))
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = np.rint(pat).astype(np.int16)
        return self._cache[key]

    def _planes(self, payload: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        key = (payload, height, width, "planes")
        if key not in self._cache:
            pat = self.pattern(payload, height, width)
            # Full H x W x 3 contiguous planes: broadcasting over the channel axis is 3x slower.
            pos = np.repeat(np.clip(pat, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            neg = np.repeat(np.clip(-pat, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            self._cache[key] = (pos, 255 - pos, neg, neg)  # type: ignore[assignment]
        return self._cache[key]  # type: ignore[return-value]

    def embed_frame(self, frame: np.ndarray, payload: int) -> np.ndarray:
        """Mark one H x W x 3 uint8 frame in place with saturating uint8 arithmetic (no copies)."""
        pos, pos_room, neg, neg_floor = self._planes(payload, frame.shape[0], frame.shape[1])
        np.minimum(frame, pos_room, out=frame)
        frame += pos
        np.maximum(frame, neg_floor, out=frame)
        frame -= neg
        return frame

    def embed(self, frames: np.ndarray, payload: int) -> np.ndarray:
        """Mark every frame in place (T x H x W x 3 uint8) and return it."""
        for frame in frames:
            self.embed_frame(frame, payload)
        return frames

    # -- detection -------------------------------------------------------------------
    def soft_bits(self, frames: np.ndarray) -> np.ndarray:
        luma = np.zeros(frames.shape[1:3], dtype=np.float32)
        for f in frames:
            luma += f.astype(np.float32).mean(axis=2)
        luma /= len(frames)
        small = np.asarray(Image.fromarray(luma, mode="F").resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float32)
        # Remove the local mean (3x3 box) so smooth content does not leak into the correlation.
        pad = np.pad(small, 1, mode="edge")
        local = sum(pad[dy : dy + SIDE, dx : dx + SIDE] for dy in range(3) for dx in range(3)) / 9.0
        resid = (small - local).reshape(GRID, SUB, GRID, SUB).transpose(0, 2, 1, 3)
        corr = (resid * self._texture).sum(axis=(2, 3)).reshape(-1) * self._chip
        soft = np.zeros(CODED_BITS, dtype=np.float64)
        np.add.at(soft, self._bit_of_cell, corr)
        return soft

    def detect(self, frames: np.ndarray) -> Detection:
        soft = self.soft_bits(frames)
        bits = (soft > 0).astype(np.uint8)
        confidence = float(np.abs(soft).mean() / (soft.std() + 1e-9))
        data, check = bits[:PAYLOAD_BITS], bits[PAYLOAD_BITS:]
        if np.array_equal(crc16(data), check):
            return Detection(True, bits_to_int(data), confidence, bits)
        return Detection(False, None, confidence, bits)

    def bit_errors(self, detection: Detection, payload: int) -> int:
        return int((detection.coded_bits != self.codeword(payload)).sum())
