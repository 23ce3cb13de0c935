"""Photo uploads: refuse what is not a whole image of the claimed type, read its facts."""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import imagehash
import pillow_heif
from PIL import ExifTags, Image, ImageFile
from PIL.TiffImagePlugin import IFDRational

from fieldcheck.errors import ConfigurationError, InvalidImageError

# iPhones shoot HEIC by default; pillow-heif lets Pillow open it like any other format.
pillow_heif.register_heif_opener()

# Pillow format names of the accepted formats.
JPEG = "JPEG"
PNG = "PNG"
HEIF = "HEIF"

_LABELS = {JPEG: "JPEG", PNG: "PNG", HEIF: "HEIC/HEIF"}

# Content types a client may claim, and the format each one means.
_CLAIMS = {
    "image/jpeg": JPEG,
    "image/jpg": JPEG,  # not registered, but sent by common Android HTTP stacks
    "image/png": PNG,
    "image/heic": HEIF,
    "image/heif": HEIF,
}
# Says nothing about the format, so it is treated like a missing claim.
_NO_CLAIM = {"", "application/octet-stream"}

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = _HEIC_BRANDS | {b"mif1", b"msf1"}
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"BM", "BMP"),
)

# EXIF orientation -> the transpose that shows the pixels upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_EXIF_DATETIME = re.compile(r"^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")

# phash is computed on a box-reduced copy whose short side stays at least this long: the hash
# only looks at 32 x 32 pixels, and resampling 12 MP down to that directly costs ~4x more.
_PHASH_MIN_SIDE = 256


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """What an accepted photo is, and what its EXIF says.

    `width` and `height` are those of the upright picture (EXIF orientation applied).
    `orientation` is the EXIF orientation the camera wrote. `exif_taken_at` is aware when the
    photo carries its UTC offset (then also given as `exif_time_offset`, e.g. "+08:00"),
    naive local camera time otherwise. `warnings` explains metadata that was present but
    unusable and therefore left out.
    """

    sha256: str
    phash: str
    mime_type: str
    width: int
    height: int
    exif_lat: float | None = None
    exif_lon: float | None = None
    exif_alt: float | None = None
    exif_taken_at: datetime | None = None
    exif_time_offset: str | None = None
    orientation: int | None = None
    make: str | None = None
    model: str | None = None
    warnings: tuple[str, ...] = ()


THUMBNAIL_SIDE = 320


@dataclass(frozen=True, slots=True)
class CheckedPhoto:
    """An accepted photo's facts and its upright JPEG thumbnail, both from one decode."""

    facts: PhotoFacts
    thumbnail: bytes


def check_photo(
    data: bytes,
    *,
    claimed_type: str | None,
    max_bytes: int,
    max_pixels: int,
    thumbnail_side: int = THUMBNAIL_SIDE,
    sha256: str | None = None,
) -> CheckedPhoto:
    """`inspect_photo` and `make_thumbnail` in one decode, as an upload needs both.

    A JPEG is decoded once at the smallest DCT scale (1/2, 1/4 or 1/8) that still serves
    the perceptual hash and the thumbnail: libjpeg still reads every coded block, so a
    truncated or damaged file is refused as surely as by a full decode, at about half its
    cost. `sha256` is the digest of `data` when the caller has computed it already.
    """
    if thumbnail_side < 1:
        raise ValueError("thumbnail_side must be positive")
    return _examine(
        data,
        claimed_type=claimed_type,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        thumbnail_side=thumbnail_side,
        sha256=sha256,
    )


def inspect_photo(
    data: bytes, *, claimed_type: str | None, max_bytes: int, max_pixels: int
) -> PhotoFacts:
    """Accept `data` only if it is a whole JPEG, PNG or HEIC/HEIF within the limits.

    `claimed_type` is the content type the client sent (None when it sent none). Refusals
    raise InvalidImageError whose `details["reason"]` is one of `too_large`,
    `too_many_pixels`, `type_mismatch`, `not_an_image`, `truncated`, `unsupported_type`.
    """
    checked = _examine(
        data,
        claimed_type=claimed_type,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        thumbnail_side=None,
        sha256=None,
    )
    return checked.facts


def _examine(
    data: bytes,
    *,
    claimed_type: str | None,
    max_bytes: int,
    max_pixels: int,
    thumbnail_side: int | None,
    sha256: str | None,
) -> CheckedPhoto:
    _check_pillow_guards()
    if len(data) > max_bytes:
        raise _refuse(
            "too_large",
            f"The photo is {len(data)} bytes; the limit is {max_bytes} bytes.",
            size=len(data),
            max_bytes=max_bytes,
        )
    fmt, mime_type = _sniff(data)
    _check_claim(claimed_type, fmt)

    image = _open(data, fmt)
    with image:
        # Limits and sizes are those of the header, before any reduced-scale decode.
        _check_pixels(image, fmt, max_pixels)
        width, height = image.size
        if fmt == PNG:
            # load() skips the CRCs of the chunks around the pixels; verify() checks them all
            # and leaves its Image unusable, hence the separate object.
            _verify_png(data)
        if fmt == JPEG:
            side = max(_PHASH_MIN_SIDE, thumbnail_side or 0)
            image.draft(None, (side, side))
        _load(image, fmt)

        warnings: list[str] = []
        exif = _read_exif(image, warnings)
        # The orientation still to apply to these pixels; libheif has already applied it to
        # HEIF and pillow-heif then resets the tag to 1, keeping the camera's value aside.
        pending = _orientation(exif.get(ExifTags.Base.Orientation), warnings)
        camera = image.info.get("original_orientation", pending) if fmt == HEIF else pending
        if pending in (5, 6, 7, 8):
            width, height = height, width
        lat, lon, alt = _read_gps(exif, warnings)
        taken_at, offset = _read_taken_at(exif, warnings)
        facts = PhotoFacts(
            sha256=sha256 or hashlib.sha256(data).hexdigest(),
            phash=_phash(image, pending),
            mime_type=mime_type,
            width=width,
            height=height,
            exif_lat=lat,
            exif_lon=lon,
            exif_alt=alt,
            exif_taken_at=taken_at,
            exif_time_offset=offset,
            orientation=camera if isinstance(camera, int) and camera in range(1, 9) else None,
            make=_text(exif.get(ExifTags.Base.Make)),
            model=_text(exif.get(ExifTags.Base.Model)),
            warnings=tuple(warnings),
        )
        thumbnail = b"" if thumbnail_side is None else _thumbnail(image, pending, thumbnail_side)
    return CheckedPhoto(facts, thumbnail)


def make_thumbnail(data: bytes, *, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """Return an upright JPEG of `data` whose longest side is at most `max_side` pixels."""
    if max_side < 1:
        raise ValueError("max_side must be positive")
    _check_pillow_guards()
    fmt, _ = _sniff(data)
    image = _open(data, fmt)
    with image:
        _check_pixels(image, fmt, max_pixels=None)
        if fmt == JPEG:
            # libjpeg decodes straight to 1/2, 1/4 or 1/8 scale (never below the box asked
            # for), which makes a 12 MP thumbnail about twice as fast as a full decode.
            image.draft(None, (max_side, max_side))
        _load(image, fmt)
        pending = _orientation(_read_exif(image, []).get(ExifTags.Base.Orientation), [])
        return _thumbnail(image, pending, max_side)


def _thumbnail(image: Image.Image, pending_orientation: int | None, max_side: int) -> bytes:
    picture = _to_rgb(image)
    if picture is image:
        picture = image.copy()  # thumbnail() works in place
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # Turned upright after shrinking: the same picture, a fraction of the pixels to move.
    transpose = _UPRIGHT.get(pending_orientation or 1)
    if transpose is not None:
        picture = picture.transpose(transpose)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=82, optimize=True)
    return out.getvalue()


# --- checks -------------------------------------------------------------------------------


def _check_pillow_guards() -> None:
    # Both are process-wide switches; if anything in the process flips them, truncated files
    # or decompression bombs would pass silently, so refuse to work instead.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ConfigurationError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False.")
    if Image.MAX_IMAGE_PIXELS is None:
        raise ConfigurationError("PIL.Image.MAX_IMAGE_PIXELS must not be None.")


def _refuse(reason: str, message: str, **details: Any) -> InvalidImageError:
    return InvalidImageError(message, details={"reason": reason, **details})


def _sniff(data: bytes) -> tuple[str, str]:
    """The real format and content type, from the leading bytes (never the file name)."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG, "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG, "image/png"
    if data[4:8] == b"ftyp":
        major, brands = _ftyp_brands(data)
        if major in _AVIF_BRANDS:
            raise _unsupported("AVIF")
        if major in _HEIF_BRANDS or brands & _HEIF_BRANDS:
            heic = major in _HEIC_BRANDS or bool(brands & _HEIC_BRANDS)
            return HEIF, "image/heic" if heic else "image/heif"
        raise _unsupported("a video or other ISO media file")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise _unsupported("WebP")
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            raise _unsupported(name)
    raise _refuse("not_an_image", "The file is not an image: it is neither JPEG, PNG nor HEIC.")


def _ftyp_brands(data: bytes) -> tuple[bytes, set[bytes]]:
    (box_size,) = struct.unpack(">I", data[:4])
    end = min(max(box_size, 16), len(data), 256)
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    return data[8:12], compatible


def _unsupported(name: str) -> InvalidImageError:
    return _refuse(
        "unsupported_type",
        f"The file is {name}; photos must be JPEG, PNG or HEIC.",
        actual=name,
    )


def _check_claim(claimed_type: str | None, fmt: str) -> None:
    claim = (claimed_type or "").split(";", 1)[0].strip().lower()
    if claim in _NO_CLAIM:
        return
    claimed_fmt = _CLAIMS.get(claim)
    if claimed_fmt is None:
        raise _refuse(
            "unsupported_type",
            f"The content type {claim} is not accepted; photos must be JPEG, PNG or HEIC.",
            claimed=claim,
        )
    if claimed_fmt != fmt:
        raise _refuse(
            "type_mismatch",
            f"The file was sent as {claim} but is really {_LABELS[fmt]}.",
            claimed=claim,
            actual=_LABELS[fmt],
        )


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """Read the header only, with the decoder limited to the sniffed format."""
    try:
        return Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's guard fires on the header's size; the warning only reaches here when the
        # process turns warnings into errors, and _check_pixels covers the other case.
        raise _refuse(
            "too_many_pixels",
            f"The image declares too many pixels to be decoded safely ({exc}).",
        ) from exc
    except Exception as exc:  # decoders of untrusted bytes fail in many exception types
        raise _decode_failure(exc, fmt) from exc


def _check_pixels(image: Image.Image, fmt: str, max_pixels: int | None) -> None:
    width, height = image.size
    pixels = width * height
    limits = [limit for limit in (max_pixels, Image.MAX_IMAGE_PIXELS) if limit is not None]
    limit = min(limits, default=None)
    if limit is not None and pixels > limit:
        raise _refuse(
            "too_many_pixels",
            f"The {_LABELS[fmt]} image is {width} x {height} ({pixels} pixels); "
            f"the limit is {limit} pixels.",
            width=width,
            height=height,
            max_pixels=limit,
        )


def _verify_png(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=[PNG]) as probe:
            probe.verify()
    except Exception as exc:  # see _open
        raise _decode_failure(exc, PNG) from exc


def _load(image: Image.Image, fmt: str) -> None:
    # Decoding every pixel is what proves the upload is a whole image (a truncated file
    # raises only here, since ImageFile.LOAD_TRUNCATED_IMAGES stays False).
    try:
        image.load()
    except Exception as exc:  # see _open
        raise _decode_failure(exc, fmt) from exc


def _decode_failure(exc: Exception, fmt: str) -> InvalidImageError:
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, EOFError) or "truncat" in lowered or "end of file" in lowered:
        return _refuse(
            "truncated",
            f"The {_LABELS[fmt]} file is truncated: it ends before its image data does.",
            decoder=text,
        )
    return _refuse(
        "not_an_image",
        f"The file starts like {_LABELS[fmt]} but does not decode as one.",
        decoder=text,
    )


# --- facts --------------------------------------------------------------------------------


def _phash(image: Image.Image, pending_orientation: int | None) -> str:
    # Grey first, as imagehash does anyway: reduce() takes neither palette nor 1-bit images.
    small = image.convert("L")
    factor = max(1, min(small.size) // _PHASH_MIN_SIDE)
    if factor > 1:
        small = small.reduce(factor)
    # Hash the picture as shown, so a copy re-saved upright by a chat app still matches.
    transpose = _UPRIGHT.get(pending_orientation or 1)
    if transpose is not None:
        small = small.transpose(transpose)
    return str(imagehash.phash(small))


def _read_exif(image: Image.Image, warnings: list[str]) -> Image.Exif:
    try:
        return image.getexif()
    except Exception as exc:  # a damaged EXIF block must not cost the photo itself
        warnings.append(f"EXIF block unreadable ({exc}); EXIF facts left out.")
        return Image.Exif()


def _get_ifd(exif: Image.Exif, ifd: int, name: str, warnings: list[str]) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(ifd))
    except Exception as exc:  # see _read_exif
        warnings.append(f"EXIF {name} block unreadable ({exc}); its facts left out.")
        return {}


def _orientation(value: Any, warnings: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    warnings.append(f"EXIF Orientation {value!r} is not 1-8; ignored.")
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:64] or None


class _BadGpsError(ValueError):
    """A GPS field that cannot be used; its message becomes a PhotoFacts warning."""


def _read_gps(
    exif: Image.Exif, warnings: list[str]
) -> tuple[float | None, float | None, float | None]:
    if ExifTags.IFD.GPSInfo not in exif:
        return None, None, None
    gps = _get_ifd(exif, ExifTags.IFD.GPSInfo, "GPS", warnings)
    lat, lon = _gps_position(gps, warnings)
    return lat, lon, _gps_altitude(gps, warnings)


def _gps_position(gps: dict[int, Any], warnings: list[str]) -> tuple[float | None, float | None]:
    tags = ExifTags.GPS
    if gps.get(tags.GPSLatitude) is None and gps.get(tags.GPSLongitude) is None:
        return None, None
    try:
        lat = _dms(gps.get(tags.GPSLatitude), "GPSLatitude")
        lon = _dms(gps.get(tags.GPSLongitude), "GPSLongitude")
        if _ref(gps.get(tags.GPSLatitudeRef), "NS", "GPSLatitudeRef") == "S":
            lat = -lat
        if _ref(gps.get(tags.GPSLongitudeRef), "EW", "GPSLongitudeRef") == "W":
            lon = -lon
        if abs(lat) > 90:
            raise _BadGpsError(f"GPSLatitude {abs(lat):g} is beyond 90 degrees")
        if abs(lon) > 180:
            raise _BadGpsError(f"GPSLongitude {abs(lon):g} is beyond 180 degrees")
        if lat == 0 and lon == 0:
            raise _BadGpsError("GPS position is 0,0, what devices write without a fix")
    except _BadGpsError as exc:
        warnings.append(f"{exc}; EXIF position left out.")
        return None, None
    return lat, lon


def _gps_altitude(gps: dict[int, Any], warnings: list[str]) -> float | None:
    raw = gps.get(ExifTags.GPS.GPSAltitude)
    if raw is None:
        return None
    try:
        altitude = _number(raw, "GPSAltitude")
        ref = gps.get(ExifTags.GPS.GPSAltitudeRef, 0)  # the standard's default: above sea level
        if isinstance(ref, bytes) and len(ref) == 1:
            ref = ref[0]
        if ref not in (0, 1) or isinstance(ref, bool):
            raise _BadGpsError(f"GPSAltitudeRef {ref!r} is neither 0 nor 1")
    except _BadGpsError as exc:
        warnings.append(f"{exc}; EXIF altitude left out.")
        return None
    return -altitude if ref == 1 else altitude


def _number(value: Any, name: str) -> float:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        numerator, denominator = value  # a raw rational, as some writers leave it
        if denominator == 0:
            raise _BadGpsError(f"{name} has a zero denominator")
        return numerator / denominator
    if isinstance(value, bool) or not isinstance(value, int | float | IFDRational):
        raise _BadGpsError(f"{name} is {type(value).__name__}, not a number")
    number = float(value)
    if not math.isfinite(number):  # Pillow reads a zero denominator as NaN
        raise _BadGpsError(f"{name} has a zero denominator or is not a number")
    return number


def _dms(value: Any, name: str) -> float:
    if value is None:
        raise _BadGpsError(f"{name} is missing")
    parts = list(value) if isinstance(value, tuple | list) else [value]
    if not 1 <= len(parts) <= 3:
        raise _BadGpsError(f"{name} has {len(parts)} parts instead of degrees, minutes, seconds")
    numbers = [_number(part, name) for part in parts]
    if any(number < 0 for number in numbers):
        raise _BadGpsError(f"{name} has a negative part")
    if any(number >= 60 for number in numbers[1:]):
        raise _BadGpsError(f"{name} has minutes or seconds of 60 or more")
    return sum(number / 60**i for i, number in enumerate(numbers))


def _ref(value: Any, allowed: str, name: str) -> str:
    text = _text(value)
    if text is None:
        raise _BadGpsError(f"{name} is missing, so the hemisphere is unknown")
    text = text.upper()
    if len(text) != 1 or text not in allowed:
        raise _BadGpsError(f"{name} is {text!r}, expected {' or '.join(allowed)}")
    return text


def _read_taken_at(exif: Image.Exif, warnings: list[str]) -> tuple[datetime | None, str | None]:
    base = ExifTags.Base
    details: dict[int, Any] = {}
    if ExifTags.IFD.Exif in exif:
        details = _get_ifd(exif, ExifTags.IFD.Exif, "Exif", warnings)
    # DateTimeOriginal is the shutter time; DateTimeDigitized is the same on phones, and
    # DateTime (last edit) is deliberately not used: an edited photo is not a newer photo.
    for when_tag, subsec_tag, offset_tag in (
        (base.DateTimeOriginal, base.SubsecTimeOriginal, base.OffsetTimeOriginal),
        (base.DateTimeDigitized, base.SubsecTimeDigitized, base.OffsetTimeDigitized),
    ):
        raw = _text(details.get(when_tag, exif.get(when_tag)))
        if raw is None:
            continue
        taken_at = _exif_datetime(raw)
        if taken_at is None:
            warnings.append(f"EXIF {when_tag.name} {raw!r} is not a date and time; ignored.")
            continue
        subsec = _text(details.get(subsec_tag))
        if subsec and subsec.isdigit():
            taken_at = taken_at.replace(microsecond=int(subsec[:6].ljust(6, "0")))
        offset_raw = _text(details.get(offset_tag, exif.get(offset_tag)))
        if offset_raw is None:
            return taken_at, None
        offset = _exif_offset(offset_raw)
        if offset is None:
            warnings.append(f"EXIF {offset_tag.name} {offset_raw!r} is not a UTC offset; ignored.")
            return taken_at, None
        tz, label = offset
        return taken_at.replace(tzinfo=tz), label
    return None, None


def _exif_datetime(text: str) -> datetime | None:
    match = _EXIF_DATETIME.match(text)
    if match is None:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None


def _exif_offset(text: str) -> tuple[timezone, str] | None:
    match = _EXIF_OFFSET.match(text)
    if match is None:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes >= 60:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta), f"{sign}{hours:02d}:{minutes:02d}"


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent areas become white; a plain convert("RGB") would show whatever colour
        # the transparent pixels happen to hold (often black).
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
