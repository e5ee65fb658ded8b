"""Audio watermark: keyed spread-spectrum over the soundtrack, same 96-bit codeword as the
video mark (48-bit payload + CRC-16, Reed-Solomon coded).

Each block of BLOCK samples carries one coded bit (block b carries bit b mod 96, counted
from the start of the track) as a keyed +-1 chip sequence, band-limited to 1.5-9 kHz (kept
by AAC at 96 kbit/s, away from the tonal energy of most soundtracks), scaled to the block's
own loudness (about 20 dB below it, with a floor for quiet passages). The detector
high-pass filters the received track (removing most of the host's low-frequency energy),
searches the start offset that the AAC encoder's priming introduces, correlates each block
with its chip sequence and decodes the soft bits like the video mark.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .watermark import CODED_BITS, decode_bits, encode_payload

ALGORITHM = "org.provgate.audiomark.ss.v1"
BLOCK = 1024
SAMPLE_RATE = 48_000


def _bandlimit(x: np.ndarray, lo: float, hi: float, sr: int) -> np.ndarray:
    spec = np.fft.rfft(x, axis=-1)
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / sr)
    spec[..., (freqs < lo) | (freqs > hi)] = 0
    return np.fft.irfft(spec, n=x.shape[-1], axis=-1)


def _highpass(x: np.ndarray) -> np.ndarray:
    return np.diff(x, prepend=x[..., :1], axis=-1)


class AudioWatermark:
    algorithm = ALGORITHM
    min_samples = BLOCK * CODED_BITS  # one whole codeword: about 2.05 s at 48 kHz

    def __init__(self, key: bytes, *, relative_db: float = -20.0, floor: float = 2e-3) -> None:
        seed = int.from_bytes(hashlib.sha256(b"provgate-audio-v1\x00" + key).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        chips = rng.choice(np.array([-1.0, 1.0]), size=(CODED_BITS, BLOCK))
        pn = _bandlimit(chips, 1500, 9000, SAMPLE_RATE)
        self._pn = (pn / np.sqrt((pn**2).mean(axis=1, keepdims=True))).astype(np.float32)
        self._template = _highpass(self._pn).astype(np.float32)
        self.gain = 10 ** (relative_db / 20)
        self.floor = floor

    def embed(self, audio: np.ndarray, payload: int) -> np.ndarray:
        """Mark ``audio`` (N x C float32 in [-1, 1]) in place; every channel gets the same mark."""
        signs = encode_payload(payload).astype(np.float32) * 2 - 1
        n_blocks = len(audio) // BLOCK
        if n_blocks == 0:
            return audio
        body = audio[: n_blocks * BLOCK]
        blocks = body.reshape(n_blocks, BLOCK, -1)
        rms = np.sqrt((blocks**2).mean(axis=(1, 2)))
        amp = np.maximum(rms * self.gain, self.floor)
        bit = np.arange(n_blocks) % CODED_BITS
        mark = (self._pn[bit] * (signs[bit] * amp)[:, None]).astype(np.float32)
        blocks += mark[:, :, None]
        np.clip(audio, -1.0, 1.0, out=audio)
        return audio

    def detect(self, audio: np.ndarray, *, max_offset: int = 4096, step: int = 4) -> tuple[int | None, np.ndarray]:
        """Payload (or None) from a track that starts where the marked one started (give or
        take the encoder's priming, searched up to ``max_offset`` samples)."""
        mono = audio.mean(axis=1) if audio.ndim == 2 else audio
        hp = _highpass(mono.astype(np.float32))
        best = np.zeros(CODED_BITS)
        best_strength = -1.0
        for offset in range(0, max_offset + 1, step):
            n_blocks = (len(hp) - offset) // BLOCK
            if n_blocks < CODED_BITS:
                break
            blocks = hp[offset : offset + n_blocks * BLOCK].reshape(n_blocks, BLOCK)
            bit = np.arange(n_blocks) % CODED_BITS
            corr = (blocks * self._template[bit]).sum(axis=1)
            corr /= np.sqrt((blocks**2).sum(axis=1)) + 1e-9  # normalised: loud blocks do not dominate
            soft = np.zeros(CODED_BITS)
            np.add.at(soft, bit, corr)
            strength = float(np.abs(soft).mean())
            if strength > best_strength:
                best, best_strength = soft, strength
        payload = decode_bits((best > 0).astype(np.uint8), best)
        return payload, best
