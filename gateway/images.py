"""Uploaded images: bounded, fully decoded, RGB. Every failure is the client's bad input."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from .errors import PayloadTooLarge, Unprocessable

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_SIDE = 4096


def open_image(raw: bytes, field: str) -> np.ndarray:
    """Decode ``raw`` (an upload named ``field``) to RGB, upright per its EXIF orientation."""
    if len(raw) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"{field} is {len(raw)} bytes; the limit is {MAX_IMAGE_BYTES}",
            code=f"{field.split('[')[0]}_too_large",
            details={"field": field},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                w, h = img.size
                if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
                    raise PayloadTooLarge(
                        f"{field} is {w}x{h}; the limit is {MAX_IMAGE_SIDE} per side",
                        code=f"{field.split('[')[0]}_too_large",
                        details={"field": field},
                    )
                return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except PayloadTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # A header that claims far more pixels than the side limit allows: PIL refuses to open it.
        raise PayloadTooLarge(
            f"{field} is too large to decode; the limit is {MAX_IMAGE_SIDE} per side",
            code=f"{field.split('[')[0]}_too_large",
            details={"field": field},
        ) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the client's bad image
        raise Unprocessable(
            f"{field} is not a decodable image ({type(exc).__name__})",
            code=f"invalid_{field.split('[')[0]}",
            details={"field": field},
        ) from None
