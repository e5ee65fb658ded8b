from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.base import GenerationSpec
from generator.procedural import ProceduralGenerator
from provenance.base import SigningError
from provenance.c2pa_backend import C2paReader, C2paSigner, build_manifest
from provenance.keys import init_dev_keys
from provenance.media import EncodeOptions, decode_frames, encode_mp4, probe
from provenance.visible import draw_label
from provenance.watermark import (
    ALGORITHM,
    CODED_BITS,
    VIDEO_BITS,
    SpreadSpectrumWatermark,
    decode_bits,
    decode_video_bits,
    derive_payload,
    encode_payload,
    encode_video_payload,
)
from schemas.manifest import TRAINED_ALGORITHMIC_MEDIA

KEY = bytes(range(32))
PAYLOAD = 0xA1B2C3D4E5F6


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, np.ndarray]:
    m = ProceduralGenerator().generate(GenerationSpec("a lighthouse in fog", 3, 2, "480p"))
    return m.frames, m.audio


@pytest.fixture(scope="module")
def marked_mp4(tmp_path_factory: pytest.TempPathFactory, clip: tuple[np.ndarray, np.ndarray]) -> Path:
    frames, audio = clip
    frames = frames.copy()
    SpreadSpectrumWatermark(KEY).embed(frames, PAYLOAD)
    path = tmp_path_factory.mktemp("wm") / "marked.mp4"
    encode_mp4(path, frames, audio, 24, 48000)
    return path


def test_codeword_roundtrip_and_error_correction() -> None:
    bits = encode_video_payload(PAYLOAD)
    assert len(bits) == VIDEO_BITS == 127
    assert decode_video_bits(bits) == PAYLOAD
    rng = np.random.default_rng(7)
    for _ in range(20):
        damaged = bits.copy()
        damaged[rng.choice(VIDEO_BITS, size=10, replace=False)] ^= 1  # any 10 wrong bits: BCH corrects them
        assert decode_video_bits(damaged) == PAYLOAD
    wrecked = bits.copy()
    wrecked[::3] ^= 1  # 43 wrong bits: refused, never a wrong payload
    assert decode_video_bits(wrecked) is None
    for _ in range(200):  # random words are refused (BCH + CRC-16)
        assert decode_video_bits(rng.integers(0, 2, VIDEO_BITS).astype(np.uint8)) is None


def test_soft_decisions_correct_beyond_the_hard_limit() -> None:
    bits = encode_video_payload(PAYLOAD)
    wrong = [0, 9, 17, 30, 41, 55, 60, 71, 80, 99, 111, 120, 126]  # 13 wrong bits
    damaged = bits.copy()
    damaged[wrong] ^= 1
    soft = np.where(bits == 1, 5.0, -5.0)
    soft[wrong] *= -0.1  # ...the decoder knows which are the weakest
    assert decode_video_bits(damaged) is None
    assert decode_video_bits(damaged, soft) == PAYLOAD


def test_audio_codeword_keeps_reed_solomon() -> None:
    bits = encode_payload(PAYLOAD)
    assert len(bits) == CODED_BITS == 96
    damaged = bits.copy()
    damaged[[3, 20]] ^= 1  # two wrong bytes: Reed-Solomon corrects them
    assert decode_bits(damaged) == PAYLOAD
    damaged = bits.copy()
    damaged[[0, 9, 17]] ^= 1  # three wrong bytes: beyond hard-decision RS...
    soft = np.where(bits == 1, 5.0, -5.0)
    soft[[0, 9, 17]] *= -0.1  # ...but erasures of the weakest bytes recover them
    assert decode_bits(damaged) is None
    assert decode_bits(damaged, soft) == PAYLOAD


def test_payload_is_keyed_and_rederivable() -> None:
    assert derive_payload(KEY, "g1") == derive_payload(KEY, "g1")
    assert derive_payload(KEY, "g1") != derive_payload(b"x" * 32, "g1")
    assert derive_payload(KEY, "g1", 1) != derive_payload(KEY, "g1")
    assert derive_payload(KEY, "g1") < 2**48


def test_watermark_quality_psnr_at_least_40db(clip: tuple[np.ndarray, np.ndarray]) -> None:
    frames = clip[0].copy()
    SpreadSpectrumWatermark(KEY).embed(frames, PAYLOAD)
    mse = ((frames.astype(np.float64) - clip[0]) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) >= 40.0


def test_watermark_survives_h264_encoding(marked_mp4: Path) -> None:
    frames, _ = decode_frames(marked_mp4, max_frames=48)
    wm = SpreadSpectrumWatermark(KEY)
    det = wm.detect(frames)
    assert det.found and det.payload == PAYLOAD
    assert wm.bit_errors(det, PAYLOAD) == 0


def test_watermark_survives_reencode_crf28_and_downscale(tmp_path: Path, marked_mp4: Path) -> None:
    from PIL import Image

    frames, _ = decode_frames(marked_mp4, max_frames=48)
    small = np.stack(
        [np.asarray(Image.fromarray(f).resize((f.shape[1] // 2 // 2 * 2, f.shape[0] // 2 // 2 * 2))) for f in frames]
    )
    out = tmp_path / "re.mp4"
    encode_mp4(out, small, np.zeros((48000, 2), np.float32), 24, 48000, EncodeOptions(crf=28))
    det = SpreadSpectrumWatermark(KEY).detect(decode_frames(out, max_frames=48)[0])
    assert det.found and det.payload == PAYLOAD


@pytest.mark.parametrize("keep", [0.9, 0.8])
def test_watermark_survives_centre_crop(marked_mp4: Path, keep: float) -> None:
    frames, _ = decode_frames(marked_mp4, max_frames=48)
    h, w = frames.shape[1:3]
    ch, cw = int(h * keep) // 2 * 2, int(w * keep) // 2 * 2
    y, x = (h - ch) // 2, (w - cw) // 2
    det = SpreadSpectrumWatermark(KEY).detect(np.ascontiguousarray(frames[:, y : y + ch, x : x + cw]))
    assert det.found and det.payload == PAYLOAD
    assert det.sync is not None and abs(det.sync.scale - keep) < 0.03


def test_any_short_segment_at_another_frame_rate(marked_mp4: Path) -> None:
    frames, _ = decode_frames(marked_mp4, max_frames=48)
    det = SpreadSpectrumWatermark(KEY).detect(frames[13:43:2])  # 15 frames from the middle, every other
    assert det.found and det.payload == PAYLOAD


def _busy_texture(frames: int, width: int = 1280, height: int = 720) -> np.ndarray:
    """Fine random texture (gravel, foliage) panning 3 px per frame: the hard case for a mark."""
    from PIL import Image

    rng = np.random.default_rng(5)
    wide = width + 3 * frames
    fine = rng.integers(0, 256, size=(height + 64, wide, 3), dtype=np.uint8)
    coarse = rng.integers(0, 256, size=((height + 64) // 8, wide // 4, 3), dtype=np.uint8)
    coarse = np.asarray(Image.fromarray(coarse).resize((wide, height + 64), Image.Resampling.BILINEAR))
    texture = (fine // 2 + coarse // 2).astype(np.uint8)
    return np.stack([texture[t % 64 : t % 64 + height, 3 * t : 3 * t + width] for t in range(frames)])


def test_busy_texture_survives_a_crf40_reencode(tmp_path: Path) -> None:
    """After CRF 40 on busy moving texture only the intra-coded first frame keeps the mark, with
    a few wrong bits spread over the word: the BCH code corrects them (RS over bytes did not)."""
    wm = SpreadSpectrumWatermark(KEY)
    frames = wm.embed(_busy_texture(48), PAYLOAD)
    silence = np.zeros((96000, 2), np.float32)
    released, attacked = tmp_path / "released.mp4", tmp_path / "attacked.mp4"
    encode_mp4(released, frames, silence, 24, 48000)
    encode_mp4(attacked, decode_frames(released)[0], silence, 24, 48000, EncodeOptions(crf=40))
    segment, _ = decode_frames(attacked, max_frames=48)
    assert wm.detect(segment).payload == PAYLOAD


def test_unmarked_or_wrong_key_is_not_found(clip: tuple[np.ndarray, np.ndarray], marked_mp4: Path) -> None:
    assert not SpreadSpectrumWatermark(KEY).detect(clip[0]).found
    frames, _ = decode_frames(marked_mp4, max_frames=48)
    assert not SpreadSpectrumWatermark(b"another key of 32 bytes........").detect(frames).found


def test_visible_label_changes_position(clip: tuple[np.ndarray, np.ndarray]) -> None:
    frames = clip[0][:96].copy() if len(clip[0]) >= 96 else np.concatenate([clip[0]] * 2)[:96].copy()
    before = frames.copy()
    draw_label(frames, "provgate · @alice", 24, period_s=1.0)
    changed = [np.argwhere(np.abs(frames[i].astype(int) - before[i]).sum(axis=2) > 0) for i in (0, 30)]
    assert all(len(c) > 100 for c in changed)
    assert not np.array_equal(changed[0].mean(axis=0).round(), changed[1].mean(axis=0).round())


def test_encoded_file_is_h264_aac_of_requested_shape(marked_mp4: Path) -> None:
    p = probe(marked_mp4)
    assert (p.video_codec, p.audio_codec) == ("h264", "aac")
    assert (p.width, p.height) == (854 - 854 % 2, 480)
    assert abs(p.duration_s - 2.0) < 0.1


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return init_dev_keys(tmp_path_factory.mktemp("keys"))


def _manifest(gid: str = "gen-1") -> dict:
    return build_manifest(
        title="x.mp4",
        generator_model="provgate-procedural-1",
        provgate_version="0.1.0",
        watermark_algorithm=ALGORITHM,
        watermark_payload=PAYLOAD,
        provgate_assertion={"generation_id": gid, "policy_version": "p1", "checks": []},
    )


def test_c2pa_signed_file_is_trusted_with_full_manifest(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "signed.mp4"
    C2paSigner(keys.chain, keys.leaf_key).sign(marked_mp4, out, _manifest())
    report = C2paReader(keys.root.read_text()).read(out)
    assert report.state == "Trusted"
    assert report.signer and "provgate dev signer" in report.signer
    actions = report.assertions["c2pa.actions.v2"]["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "provgate-procedural-1"
    assert any(a["action"] == "c2pa.watermarked" for a in actions)
    assert report.assertions["c2pa.soft-binding"]["alg"] == ALGORITHM
    assert report.assertions["org.provgate.generation"]["generation_id"] == "gen-1"


def test_c2pa_other_root_is_only_valid(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "signed.mp4"
    C2paSigner(keys.chain, keys.leaf_key).sign(marked_mp4, out, _manifest())
    other = init_dev_keys(tmp_path / "other")
    assert C2paReader(other.root.read_text()).read(out).state == "Valid"


def test_c2pa_flipped_media_byte_is_invalid(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "signed.mp4"
    C2paSigner(keys.chain, keys.leaf_key).sign(marked_mp4, out, _manifest())
    data = bytearray(out.read_bytes())
    i = data.find(b"mdat")
    data[i + 1000] ^= 0xFF
    assert C2paReader(keys.root.read_text()).read_bytes(bytes(data)).state == "Invalid"


def test_c2pa_unsigned_file_is_missing(keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    assert C2paReader(keys.root.read_text()).read(marked_mp4).state == "Missing"


def test_signing_without_key_raises(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    signer = C2paSigner(keys.chain, tmp_path / "absent.key")
    with pytest.raises(SigningError):
        signer.check()
    with pytest.raises(SigningError):
        signer.sign(marked_mp4, tmp_path / "out.mp4", _manifest())
    assert not (tmp_path / "out.mp4").exists()


def test_external_command_signer_is_trusted(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    """PROVGATE_SIGNER=command:...: the key stays with the command (here openssl), not provgate."""
    import shutil

    from provenance.registry import create_signer

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    signer = create_signer(
        keys.chain, tmp_path / "unused.key", signer=f"command:{openssl} dgst -sha256 -sign {keys.leaf_key}"
    )
    signer.check()
    out = tmp_path / "ext.mp4"
    signer.sign(marked_mp4, out, _manifest("gen-ext"))
    report = C2paReader(keys.root.read_text()).read(out)
    assert report.state == "Trusted"
    assert report.assertions["org.provgate.generation"]["generation_id"] == "gen-ext"


def test_failing_external_signer_raises_and_writes_nothing(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    from provenance.registry import create_signer

    signer = create_signer(keys.chain, tmp_path / "unused.key", signer="command:false")
    out = tmp_path / "never.mp4"
    with pytest.raises(SigningError, match="exited 1"):
        signer.sign(marked_mp4, out, _manifest())
    assert not out.exists()


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.tsa import LocalTsa

    with LocalTsa(tmp_path_factory.mktemp("tsa")) as t:
        yield t


def test_timestamped_signature_reports_its_authority(tmp_path: Path, keys, tsa, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    """PROVGATE_TSA_URL: an RFC 3161 token on the signature; its authority is trusted only
    when its root is among the anchors (PROVGATE_TSA_TRUST_ANCHORS)."""
    out = tmp_path / "stamped.mp4"
    before = tsa.requests
    C2paSigner(keys.chain, keys.leaf_key, tsa_url=tsa.url).sign(marked_mp4, out, _manifest("gen-ts"))
    assert tsa.requests == before + 1
    trusted = C2paReader(keys.root.read_text() + tsa.root.read_text()).read(out)
    assert trusted.state == "Trusted"
    assert trusted.timestamp == "trusted" and trusted.signed_at
    assert "timeStamp.validated" in trusted.codes
    unknown = C2paReader(keys.root.read_text()).read(out)
    assert unknown.state == "Trusted" and unknown.timestamp == "untrusted"
    plain = tmp_path / "plain.mp4"
    C2paSigner(keys.chain, keys.leaf_key).sign(marked_mp4, plain, _manifest())
    report = C2paReader(keys.root.read_text() + tsa.root.read_text()).read(plain)
    assert report.timestamp is None and report.signed_at is None


def test_external_signer_is_timestamped_too(tmp_path: Path, keys, tsa, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from provenance.registry import create_signer

    openssl = shutil.which("openssl")
    assert openssl is not None  # tsa needs it as well
    command = f"command:{openssl} dgst -sha256 -sign {keys.leaf_key}"
    signer = create_signer(keys.chain, tmp_path / "unused.key", tsa_url=tsa.url, signer=command)
    out = tmp_path / "ext.mp4"
    signer.sign(marked_mp4, out, _manifest())
    report = C2paReader(keys.root.read_text() + tsa.root.read_text()).read(out)
    assert (report.state, report.timestamp) == ("Trusted", "trusted")


def test_unreachable_tsa_fails_closed_and_retriable(tmp_path: Path, keys, tsa, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "never.mp4"
    tsa.fail_next = 1
    with pytest.raises(SigningError, match="timestamp authority") as exc:
        C2paSigner(keys.chain, keys.leaf_key, tsa_url=tsa.url).sign(marked_mp4, out, _manifest())
    assert exc.value.retriable and not out.exists()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    with pytest.raises(SigningError, match="timestamp authority") as exc:
        C2paSigner(keys.chain, keys.leaf_key, tsa_url=closed).sign(marked_mp4, out, _manifest())
    assert exc.value.retriable and not out.exists()


def test_rotation_keeps_earlier_files_trusted(tmp_path: Path, marked_mp4: Path) -> None:
    from provenance.keys import rotate_leaf, rotate_root
    from provenance.registry import create_reader

    paths = init_dev_keys(tmp_path / "keys")
    reader = create_reader(paths.trust_anchors)  # re-read at each verification
    files = []
    for step in ("first", "leaf", "root"):
        if step == "leaf":
            rotate_leaf(paths.directory)
        elif step == "root":
            rotate_root(paths.directory)
        out = tmp_path / f"{step}.mp4"
        C2paSigner(paths.chain, paths.leaf_key).sign(marked_mp4, out, _manifest(step))
        files.append(out)
    assert len(paths.trust_anchors()) == 2  # current root + the archived one
    for f in files:
        assert reader.read(f).state == "Trusted", f.name
    stranger = init_dev_keys(tmp_path / "stranger")
    foreign = tmp_path / "foreign.mp4"
    C2paSigner(stranger.chain, stranger.leaf_key).sign(marked_mp4, foreign, _manifest())
    assert reader.read(foreign).state == "Valid"


def test_key_that_does_not_match_the_leaf_fails_closed(tmp_path: Path, keys, marked_mp4: Path) -> None:  # type: ignore[no-untyped-def]
    other = init_dev_keys(tmp_path / "other")
    signer = C2paSigner(keys.chain, other.leaf_key)
    with pytest.raises(SigningError, match="does not match") as exc:
        signer.sign(marked_mp4, tmp_path / "x.mp4", _manifest())
    assert exc.value.retriable
    assert not (tmp_path / "x.mp4").exists()


def _aac_roundtrip(tmp: Path, audio: np.ndarray, bitrate: int) -> np.ndarray:
    from provenance.media import decode_audio

    frames = np.zeros((len(audio) * 24 // 48000, 64, 64, 3), dtype=np.uint8)
    path = tmp / "a.mp4"
    encode_mp4(path, frames, audio, 24, 48000, EncodeOptions(audio_bitrate=bitrate))
    decoded = decode_audio(path)
    assert decoded is not None
    return decoded[0]


def test_audio_mark_survives_aac_96k(tmp_path: Path) -> None:
    from provenance.audio_watermark import AudioWatermark

    media = ProceduralGenerator().generate(GenerationSpec("a lighthouse", 3, 4, "480p"))
    aw = AudioWatermark(KEY)
    clean = media.audio.copy()
    aw.embed(media.audio, PAYLOAD)
    snr = 10 * np.log10((clean**2).mean() / ((media.audio - clean) ** 2).mean())
    assert snr >= 19.0
    assert aw.detect(_aac_roundtrip(tmp_path, media.audio, 96_000))[0] == PAYLOAD
    assert aw.detect(_aac_roundtrip(tmp_path, clean, 96_000))[0] is None
