"""Encode raw frames + PCM to H.264/AAC MP4 once, and decode files for verification (PyAV)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class MediaError(ValueError):
    """A file could not be decoded as video."""


@dataclass(frozen=True)
class EncodeOptions:
    crf: int = 20
    preset: str = "veryfast"
    audio_bitrate: int = 128_000
    threads: int = 0  # 0 = let x264 choose


def encode_mp4(
    path: Path, frames: np.ndarray, audio: np.ndarray, fps: int, sample_rate: int, options: EncodeOptions | None = None
) -> None:
    """Write ``frames`` (T x H x W x 3 RGB uint8) and ``audio`` (N x C float32) as MP4."""
    opts = options or EncodeOptions()
    _, h, w, _ = frames.shape
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vs.options = {"crf": str(opts.crf), "preset": opts.preset}
        vs.codec_context.thread_count = opts.threads
        vs.thread_type = "AUTO"
        channels = audio.shape[1] if audio.ndim == 2 else 1
        aus = out.add_stream("aac", rate=sample_rate, layout="stereo" if channels == 2 else "mono")
        aus.bit_rate = opts.audio_bitrate
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(frame[: vs.height, : vs.width], format="rgb24")
            for pkt in vs.encode(vf):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        pcm = np.ascontiguousarray(np.clip(audio, -1, 1).T.astype(np.float32))
        if pcm.ndim == 1:
            pcm = pcm[None, :]
        chunk = 1024
        for start in range(0, pcm.shape[1], chunk):
            af = av.AudioFrame.from_ndarray(
                pcm[:, start : start + chunk], format="fltp", layout="stereo" if channels == 2 else "mono"
            )
            af.sample_rate = sample_rate
            af.pts = start
            af.time_base = Fraction(1, sample_rate)
            for pkt in aus.encode(af):
                out.mux(pkt)
        for pkt in aus.encode():
            out.mux(pkt)


@dataclass
class Probe:
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str | None
    frames: int


def _why(exc: Exception) -> str:
    """What is wrong with the file, in FFmpeg's words, without the path of the server's copy."""
    if isinstance(exc, IndexError):
        return "it has no video stream"
    return getattr(exc, "strerror", None) or type(exc).__name__


def probe(path: Path) -> Probe:
    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            a = c.streams.audio[0] if c.streams.audio else None
            n = sum(1 for _ in c.demux(v) if True)
            dur = float(c.duration / av.time_base) if c.duration else 0.0
            return Probe(
                dur,
                v.codec_context.width,
                v.codec_context.height,
                float(v.average_rate or 0),
                v.codec_context.name,
                a.codec_context.name if a else None,
                n - 1 if n else 0,
            )
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"not a decodable video: {_why(exc)}") from exc


def decode_audio(path: Path, *, max_seconds: float = 60.0) -> tuple[np.ndarray, int] | None:
    """The first ``max_seconds`` of the audio track as N x C float32, or None without audio."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return None
            stream = c.streams.audio[0]
            rate = stream.codec_context.sample_rate or 48_000
            limit = int(max_seconds * rate)
            chunks: list[np.ndarray] = []
            total = 0
            resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout.name, rate=rate)
            for frame in c.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()
                    chunks.append(arr)
                    total += arr.shape[1]
                if total >= limit:
                    break
    except av.error.FFmpegError:
        return None
    if not chunks:
        return None
    return np.concatenate(chunks, axis=1)[:, :limit].T.astype(np.float32), rate


def decode_frames(path: Path, *, max_frames: int = 96, start_s: float = 0.0, step: int = 1) -> tuple[np.ndarray, float]:
    """Decode up to ``max_frames`` RGB frames from ``start_s``, every ``step``-th one; returns
    (frames, fps of the file)."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise MediaError("the file has no video stream")
            v = c.streams.video[0]
            v.thread_type = "AUTO"
            fps = float(v.average_rate or 24)
            out: list[np.ndarray] = []
            seen = 0
            for frame in c.decode(v):
                if frame.time is not None and frame.time < start_s:
                    continue
                seen += 1
                if (seen - 1) % step:
                    continue
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) >= max_frames:
                    break
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a decodable video: {_why(exc)}") from exc
    if not out:
        raise MediaError("the video has no frames")
    return np.stack(out), fps
