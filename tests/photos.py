"""Small photos written by tests: JPEGs with phone-like EXIF, PNGs, malformed and huge files."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from PIL import ExifTags, Image, ImageDraw

GPS = ExifTags.GPS
BASE = ExifTags.Base


def picture(seed: int = 1, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture: shapes over a gradient, different for every seed."""
    rnd = random.Random(seed)
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rnd.randrange(width), rnd.randrange(height)
        w, h = rnd.randrange(width // 8, width // 2), rnd.randrange(height // 8, height // 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=colour)
    return image


def phone_exif(
    *,
    lat: tuple[float, float, float] | None = (28, 54, 36.0),
    lat_ref: str = "N",
    lon: tuple[float, float, float] = (120, 2, 24.0),
    lon_ref: str = "E",
    alt: float | None = 85.5,
    taken: str | None = "2026:11:28 10:15:30",
    offset: str | None = "+08:00",
    orientation: int | None = None,
    make: str = "HUAWEI",
    model: str = "P60",
) -> Image.Exif:
    exif = Image.Exif()
    exif[BASE.Make] = make
    exif[BASE.Model] = model
    if orientation is not None:
        exif[BASE.Orientation] = orientation
    if lat is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[GPS.GPSLatitudeRef] = lat_ref
        gps[GPS.GPSLatitude] = lat
        gps[GPS.GPSLongitudeRef] = lon_ref
        gps[GPS.GPSLongitude] = lon
        if alt is not None:
            gps[GPS.GPSAltitude] = alt
            gps[GPS.GPSAltitudeRef] = 0
    if taken is not None:
        details = exif.get_ifd(ExifTags.IFD.Exif)
        details[BASE.DateTimeOriginal] = taken
        if offset is not None:
            details[BASE.OffsetTimeOriginal] = offset
    return exif


def jpeg(seed: int | None = None, size: tuple[int, int] = (320, 240), **exif: Any) -> bytes:
    """A JPEG as a phone writes it; every call without `seed` gives different bytes."""
    out = io.BytesIO()
    image = picture(seed if seed is not None else random.randrange(1 << 30), size)
    image.save(out, format="JPEG", quality=85, exif=phone_exif(**exif))
    return out.getvalue()


def png(seed: int = 7, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    picture(seed, size).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_malformed_gps() -> bytes:
    """A JPEG whose GPS block says latitude 95 degrees: present, but unusable."""
    rational = struct.pack(">IIIIII", 95, 1, 0, 1, 0, 1)
    entries = [
        (GPS.GPSLatitudeRef, 2, 2, b"N\x00"),
        (GPS.GPSLatitude, 5, 3, rational),
        (GPS.GPSLongitudeRef, 2, 2, b"E\x00"),
        (GPS.GPSLongitude, 5, 3, struct.pack(">IIIIII", 120, 1, 2, 1, 24, 1)),
    ]
    gps_offset = 8 + 2 + 12 + 4
    data_offset = gps_offset + 2 + 12 * len(entries) + 4
    table, extra = b"", b""
    for tag, tiff_type, count, value in entries:
        if len(value) <= 4:
            table += struct.pack(">HHI", tag, tiff_type, count) + value.ljust(4, b"\x00")
        else:
            table += struct.pack(">HHII", tag, tiff_type, count, data_offset + len(extra))
            extra += value
    ifd0 = struct.pack(">HHHII", 1, 0x8825, 4, 1, gps_offset) + struct.pack(">I", 0)
    gps = struct.pack(">H", len(entries)) + table + struct.pack(">I", 0)
    block = b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + ifd0 + gps + extra
    out = io.BytesIO()
    picture(3).save(out, format="JPEG", exif=block)
    return out.getvalue()


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of any size, built row by row (a few hundred kilobytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = (b"\x00" * (1 + (width + 7) // 8)) * 500
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(rows) for _ in range(height // 500))
    idat += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


def result_body(
    visit_id: int, *, photos: list[tuple[str, bytes]] = (), **fields: Any
) -> dict[str, Any]:
    """A valid result submission for `visit_id`; `fields` override any key."""
    body: dict[str, Any] = {
        "submission_id": new_id(),
        "visit_id": visit_id,
        "outcome": "operating",
        "position": {
            "lat": 28.8908,
            "lon": 120.0425,
            "accuracy_m": 8.0,
            "crs": "wgs84",
            "fix_time": "2026-11-28T10:14:00+08:00",
        },
        "started_at": "2026-11-28T10:10:00+08:00",
        "captured_at": "2026-11-28T10:16:00+08:00",
        "photos": [{"kind": kind, "sha256": sha256(data)} for kind, data in photos],
        "phone_attempts": [],
        "notes": None,
    }
    body.update(fields)
    return body


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
