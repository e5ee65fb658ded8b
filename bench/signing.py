"""Signing and verification time for a 10 s 720p MP4, and provgate's signing overhead as a
ratio to a bare c2pa-python sign of the same file, same manifest, in the same run.

    .venv/bin/python bench/signing.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import c2pa  # noqa: E402

from generator.base import GenerationSpec  # noqa: E402
from generator.procedural import ProceduralGenerator  # noqa: E402
from provenance.c2pa_backend import C2paReader, C2paSigner, build_manifest  # noqa: E402
from provenance.keys import init_dev_keys  # noqa: E402
from provenance.media import decode_frames, encode_mp4  # noqa: E402
from provenance.watermark import ALGORITHM, SpreadSpectrumWatermark  # noqa: E402


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        keys = init_dev_keys(tmp / "keys")
        wm = SpreadSpectrumWatermark(b"bench-key-0123456789abcdef")
        media = ProceduralGenerator().generate(GenerationSpec("a lighthouse", 1, 10, "720p"))
        wm.embed(media.frames, 1234567)
        src = tmp / "clip.mp4"
        encode_mp4(src, media.frames, media.audio, media.fps, media.sample_rate)
        manifest = build_manifest(
            title="clip.mp4",
            generator_model="provgate-procedural-1",
            provgate_version="0.1.0",
            watermark_algorithm=ALGORITHM,
            watermark_payload=1234567,
            provgate_assertion={"generation_id": "g", "policy_version": "p", "checks": []},
        )
        signer = C2paSigner(keys.chain, keys.leaf_key)
        ours = timed(lambda: signer.sign(src, tmp / "ours.mp4", manifest), args.runs)

        def bare() -> None:
            info = c2pa.C2paSignerInfo(b"es256", keys.chain.read_bytes(), keys.leaf_key.read_bytes(), None)
            ctx = c2pa.Context.from_dict(
                {"builder": {"thumbnail": {"enabled": False}}, "verify": {"verify_after_sign": False}}
            )
            with (
                c2pa.Signer.from_info(info) as s,
                c2pa.Builder(manifest, context=ctx) as b,
                open(src, "rb") as fin,
                open(tmp / "bare.mp4", "w+b") as fout,
            ):
                b.sign(s, "video/mp4", fin, fout)

        base = timed(bare, args.runs)
        from tests.tsa import LocalTsa

        with LocalTsa(tmp / "tsa") as tsa:  # RFC 3161 over HTTP on localhost (openssl ts)
            stamped_signer = C2paSigner(keys.chain, keys.leaf_key, tsa_url=tsa.url)
            stamped = timed(lambda: stamped_signer.sign(src, tmp / "stamped.mp4", manifest), args.runs)
        reader = C2paReader(keys.root.read_text())
        read = timed(lambda: reader.read(tmp / "ours.mp4"), args.runs)
        decode = timed(lambda: decode_frames(tmp / "ours.mp4", max_frames=48), args.runs)
        frames, _ = decode_frames(tmp / "ours.mp4", max_frames=48)
        detect = timed(lambda: wm.detect(frames), args.runs)
        assert reader.read(tmp / "ours.mp4").state == "Trusted" and wm.detect(frames).payload == 1234567
        size = src.stat().st_size / 1e6
    print(f"# 10 s 720p MP4 ({size:.1f} MB), median of {args.runs}")
    print(f"sign (provgate C2paSigner)       {ours * 1000:8.1f} ms")
    print(f"sign (bare c2pa-python)          {base * 1000:8.1f} ms")
    print(f"signing overhead ratio           {ours / base:8.2f}")
    print(f"sign with a local TSA (RFC 3161) {stamped * 1000:8.1f} ms")
    print(f"verify: C2PA read + validate     {read * 1000:8.1f} ms")
    print(f"verify: decode 2 s of frames     {decode * 1000:8.1f} ms")
    print(f"verify: watermark detect         {detect * 1000:8.1f} ms")
    print(f"verify total (C2PA + watermark)  {(read + decode + detect) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
