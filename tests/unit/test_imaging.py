"""Photo upload checks, EXIF facts, perceptual hashes and thumbnails."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from datetime import datetime, timedelta, timezone

import imagehash
import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFile
from PIL.TiffImagePlugin import IFDRational

from fieldcheck.errors import ConfigurationError, InvalidImageError
from fieldcheck.evidence.imaging import PhotoFacts, check_photo, inspect_photo, make_thumbnail

GPS = ExifTags.GPS
BASE = ExifTags.Base
LIMITS = {"max_bytes": 20_000_000, "max_pixels": 50_000_000}


# --- builders -----------------------------------------------------------------------------


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


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def gps_exif(
    *,
    lat: tuple[float, float, float] = (28, 54, 36.0),
    lat_ref: str = "N",
    lon: tuple[float, float, float] = (120, 2, 24.0),
    lon_ref: str = "E",
    alt: float | None = None,
    alt_ref: int | bytes | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[GPS.GPSLatitudeRef] = lat_ref
    gps[GPS.GPSLatitude] = lat
    gps[GPS.GPSLongitudeRef] = lon_ref
    gps[GPS.GPSLongitude] = lon
    if alt is not None:
        gps[GPS.GPSAltitude] = alt
    if alt_ref is not None:
        gps[GPS.GPSAltitudeRef] = alt_ref
    return exif


def raw_gps_exif(*entries: tuple[int, int, int, bytes]) -> bytes:
    """An EXIF block whose GPS IFD holds exactly `entries` (tag, TIFF type, count, value).

    Pillow refuses to write wrong types, so malformed blocks are laid out by hand.
    """
    gps_offset = 8 + 2 + 12 + 4  # TIFF header, then IFD0 with its one GPS pointer
    data_offset = gps_offset + 2 + 12 * len(entries) + 4
    table, extra = b"", b""
    for tag, tiff_type, count, value in entries:
        if len(value) <= 4:
            table += struct.pack(">HHI", tag, tiff_type, count) + value.ljust(4, b"\x00")
        else:
            table += struct.pack(">HHII", tag, tiff_type, count, data_offset + len(extra))
            extra += value + b"\x00" * (len(value) % 2)
    ifd0 = struct.pack(">HHHII", 1, 0x8825, 4, 1, gps_offset) + struct.pack(">I", 0)
    gps = struct.pack(">H", len(entries)) + table + struct.pack(">I", 0)
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + ifd0 + gps + extra


def ascii_entry(tag: int, text: str) -> tuple[int, int, int, bytes]:
    value = text.encode() + b"\x00"
    return tag, 2, len(value), value


def rational_entry(tag: int, *pairs: tuple[int, int]) -> tuple[int, int, int, bytes]:
    return tag, 5, len(pairs), b"".join(struct.pack(">II", n, d) for n, d in pairs)


def bilevel_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of any size, built row by row so no full bitmap is ever allocated."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = (b"\x00" * (1 + (width + 7) // 8)) * 500
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(rows) for _ in range(height // 500))
    idat += compressor.compress(rows[: (height % 500) * (1 + (width + 7) // 8)])
    idat += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def reason_of(excinfo: pytest.ExceptionInfo[InvalidImageError]) -> str:
    return excinfo.value.details["reason"]


# --- accepted photos ----------------------------------------------------------------------


def test_inspect_photo_reads_gps_with_south_west_refs_and_altitude_below_sea_level() -> None:
    exif = gps_exif(
        lat=(33, 52, 4.5), lat_ref="S", lon=(151, 12, 36.0), lon_ref="W", alt=12.5, alt_ref=1
    )
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    assert facts.exif_lat == pytest.approx(-(33 + 52 / 60 + 4.5 / 3600))
    assert facts.exif_lon == pytest.approx(-(151 + 12 / 60 + 36 / 3600))
    assert facts.exif_alt == pytest.approx(-12.5)
    assert facts.warnings == ()


def test_inspect_photo_reads_gps_north_east_above_sea_level() -> None:
    exif = gps_exif(lat=(28, 54, 36.0), lon=(120, 2, 24.0), alt=85.25, alt_ref=b"\x00")
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    assert (facts.exif_lat, facts.exif_lon) == pytest.approx((28.91, 120.04))
    assert facts.exif_alt == pytest.approx(85.25)


def test_inspect_photo_describes_a_plain_jpeg() -> None:
    data = encode(picture(size=(320, 240)))
    facts = inspect_photo(data, claimed_type="image/jpeg", **LIMITS)

    assert isinstance(facts, PhotoFacts)
    assert (facts.mime_type, facts.width, facts.height) == ("image/jpeg", 320, 240)
    assert (facts.exif_lat, facts.exif_lon, facts.exif_alt, facts.exif_taken_at) == (None,) * 4
    assert (facts.orientation, facts.make, facts.model, facts.warnings) == (None, None, None, ())
    assert len(facts.phash) == 16
    int(facts.phash, 16)


def test_inspect_photo_sha256_is_that_of_the_original_bytes_and_stable() -> None:
    data = encode(picture())
    first = inspect_photo(data, claimed_type=None, **LIMITS)
    again = inspect_photo(bytes(data), claimed_type="image/jpeg", **LIMITS)

    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert again.sha256 == first.sha256
    assert again.phash == first.phash


def test_inspect_photo_returns_aware_taken_at_when_offset_is_recorded() -> None:
    exif = Image.Exif()
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[BASE.DateTimeOriginal] = "2024:05:06 09:10:11"
    details[BASE.SubsecTimeOriginal] = "25"
    details[BASE.OffsetTimeOriginal] = "+08:00"
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    tz = timezone(timedelta(hours=8))
    assert facts.exif_taken_at == datetime(2024, 5, 6, 9, 10, 11, 250000, tzinfo=tz)
    assert facts.exif_taken_at.utcoffset() == timedelta(hours=8)
    assert facts.exif_time_offset == "+08:00"


def test_inspect_photo_returns_naive_taken_at_without_offset() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[BASE.DateTimeOriginal] = "2024:05:06 09:10:11"
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    assert facts.exif_taken_at == datetime(2024, 5, 6, 9, 10, 11)
    assert facts.exif_taken_at.tzinfo is None
    assert facts.exif_time_offset is None


def test_inspect_photo_ignores_placeholder_taken_at_with_a_warning() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[BASE.DateTimeOriginal] = "0000:00:00 00:00:00"
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    assert facts.exif_taken_at is None
    assert "DateTimeOriginal" in facts.warnings[0]


def test_inspect_photo_reads_camera_and_gives_upright_size_for_orientation_6() -> None:
    exif = Image.Exif()
    exif[BASE.Orientation] = 6
    exif[BASE.Make] = "HUAWEI"
    exif[BASE.Model] = "ELS-AN00\x00"
    data = encode(picture(size=(320, 240)), exif=exif)
    facts = inspect_photo(data, claimed_type="image/jpeg", **LIMITS)

    assert (facts.orientation, facts.make, facts.model) == (6, "HUAWEI", "ELS-AN00")
    assert (facts.width, facts.height) == (240, 320)


@pytest.mark.parametrize(
    "claimed", [None, "", "image/jpeg; q=1", "IMAGE/JPG", "application/octet-stream"]
)
def test_inspect_photo_accepts_jpeg_whatever_the_spelling_of_its_claim(claimed: str | None) -> None:
    facts = inspect_photo(encode(picture()), claimed_type=claimed, **LIMITS)

    assert facts.mime_type == "image/jpeg"


def test_inspect_photo_accepts_png_with_alpha() -> None:
    data = encode(picture().convert("RGBA"), "PNG")
    facts = inspect_photo(data, claimed_type="image/png", **LIMITS)

    assert (facts.mime_type, facts.width, facts.height) == ("image/png", 320, 240)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("P", "PNG"), ("1", "PNG"), ("LA", "PNG"), ("L", "JPEG"), ("CMYK", "JPEG")],
)
def test_inspect_photo_and_thumbnail_take_every_usual_pixel_mode(mode: str, fmt: str) -> None:
    data = encode(picture(size=(1200, 900)).convert(mode), fmt)

    facts = inspect_photo(data, claimed_type=None, **LIMITS)
    thumbnail = Image.open(io.BytesIO(make_thumbnail(data)))

    assert (facts.width, facts.height, len(facts.phash)) == (1200, 900, 16)
    assert (thumbnail.mode, thumbnail.size) == ("RGB", (320, 240))


# --- malformed GPS ------------------------------------------------------------------------

_GOOD_LON = (
    ascii_entry(GPS.GPSLongitudeRef, "E"),
    rational_entry(GPS.GPSLongitude, (120, 1), (2, 1), (24, 1)),
)


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "N"),
                ascii_entry(GPS.GPSLatitude, "28.9"),
                *_GOOD_LON,
            ),
            "GPSLatitude is str, not a number",
            id="latitude-as-text",
        ),
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "N"),
                rational_entry(GPS.GPSLatitude, (28, 0), (54, 1), (36, 1)),
                *_GOOD_LON,
            ),
            "GPSLatitude has a zero denominator",
            id="zero-denominator",
        ),
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "N"),
                rational_entry(GPS.GPSLatitude, (95, 1), (0, 1), (0, 1)),
                *_GOOD_LON,
            ),
            "GPSLatitude 95 is beyond 90 degrees",
            id="latitude-over-90",
        ),
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "N"),
                rational_entry(GPS.GPSLatitude, (28, 1), (75, 1), (0, 1)),
                *_GOOD_LON,
            ),
            "GPSLatitude has minutes or seconds of 60 or more",
            id="minutes-over-60",
        ),
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "Q"),
                rational_entry(GPS.GPSLatitude, (28, 1)),
                *_GOOD_LON,
            ),
            "GPSLatitudeRef is 'Q', expected N or S",
            id="bad-reference",
        ),
        pytest.param(
            (rational_entry(GPS.GPSLatitude, (28, 1), (54, 1), (36, 1)), *_GOOD_LON),
            "GPSLatitudeRef is missing",
            id="missing-reference",
        ),
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "N"),
                rational_entry(GPS.GPSLatitude, (0, 1), (0, 1), (0, 1)),
                ascii_entry(GPS.GPSLongitudeRef, "E"),
                rational_entry(GPS.GPSLongitude, (0, 1), (0, 1), (0, 1)),
            ),
            "GPS position is 0,0",
            id="no-fix",
        ),
        pytest.param(
            (
                ascii_entry(GPS.GPSLatitudeRef, "N"),
                rational_entry(GPS.GPSLatitude, (28, 1), (54, 1), (36, 1), (1, 1)),
                *_GOOD_LON,
            ),
            "GPSLatitude has 4 parts",
            id="four-parts",
        ),
    ],
)
def test_inspect_photo_leaves_out_malformed_gps_position_with_a_warning(
    entries: tuple[tuple[int, int, int, bytes], ...], why: str
) -> None:
    data = encode(picture(), exif=raw_gps_exif(*entries))
    facts = inspect_photo(data, claimed_type="image/jpeg", **LIMITS)

    assert (facts.exif_lat, facts.exif_lon) == (None, None)
    assert len(facts.warnings) == 1
    assert why in facts.warnings[0]


def test_inspect_photo_leaves_out_altitude_with_unknown_reference_but_keeps_position() -> None:
    exif = gps_exif(alt=40.0, alt_ref=7)
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    assert facts.exif_lat is not None
    assert facts.exif_alt is None
    assert facts.warnings == ("GPSAltitudeRef 7 is neither 0 nor 1; EXIF altitude left out.",)


def test_inspect_photo_leaves_out_altitude_with_zero_denominator() -> None:
    exif = gps_exif(alt=IFDRational(40, 0), alt_ref=0)
    facts = inspect_photo(encode(picture(), exif=exif), claimed_type="image/jpeg", **LIMITS)

    assert facts.exif_alt is None
    assert "GPSAltitude has a zero denominator" in facts.warnings[0]


# --- refusals -----------------------------------------------------------------------------


def test_inspect_photo_refuses_file_over_max_bytes() -> None:
    data = encode(picture())
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(data, claimed_type="image/jpeg", max_bytes=len(data) - 1, max_pixels=10**8)

    assert reason_of(excinfo) == "too_large"
    assert excinfo.value.code == "bad_image"
    assert f"{len(data)} bytes" in excinfo.value.message


def test_inspect_photo_refuses_png_claimed_as_jpeg() -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(encode(picture(), "PNG"), claimed_type="image/jpeg", **LIMITS)

    assert reason_of(excinfo) == "type_mismatch"
    assert excinfo.value.message == "The file was sent as image/jpeg but is really PNG."


def test_inspect_photo_refuses_jpeg_claimed_as_heic() -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(encode(picture()), claimed_type="image/heic", **LIMITS)

    assert reason_of(excinfo) == "type_mismatch"


def test_inspect_photo_refuses_truncated_jpeg() -> None:
    data = encode(picture(size=(640, 480)))
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(data[: len(data) // 2], claimed_type="image/jpeg", **LIMITS)

    assert reason_of(excinfo) == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_inspect_photo_refuses_png_with_a_corrupt_chunk() -> None:
    data = bytearray(encode(picture(), "PNG"))
    data[-20] ^= 0xFF  # inside the last IDAT chunk, so its CRC no longer matches
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(bytes(data), claimed_type="image/png", **LIMITS)

    assert reason_of(excinfo) == "not_an_image"


@pytest.mark.parametrize("data", [b"", b"hello, this is text", b"\xff\xd8\xff" + b"\x00" * 64])
def test_inspect_photo_refuses_bytes_that_are_not_an_image(data: bytes) -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(data, claimed_type="image/jpeg", **LIMITS)

    assert reason_of(excinfo) == "not_an_image"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "BMP"])
def test_inspect_photo_refuses_other_image_formats(fmt: str) -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(encode(picture(), fmt), claimed_type=None, **LIMITS)

    assert reason_of(excinfo) == "unsupported_type"


def test_inspect_photo_refuses_unaccepted_claimed_type() -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(encode(picture()), claimed_type="image/gif", **LIMITS)

    assert reason_of(excinfo) == "unsupported_type"
    assert excinfo.value.details["claimed"] == "image/gif"


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel gets decoded."""

    def load(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.usefixtures("no_decoding")
def test_inspect_photo_refuses_20000_square_image_from_its_header() -> None:
    data = bilevel_png(20_000, 20_000)
    assert len(data) < 200_000

    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(data, claimed_type="image/png", max_bytes=10**6, max_pixels=50_000_000)

    assert reason_of(excinfo) == "too_many_pixels"


@pytest.mark.usefixtures("no_decoding")
def test_inspect_photo_refuses_more_pixels_than_max_pixels_from_the_header() -> None:
    data = bilevel_png(8_000, 7_000)
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(data, claimed_type="image/png", max_bytes=10**6, max_pixels=50_000_000)

    assert excinfo.value.details == {
        "reason": "too_many_pixels",
        "width": 8_000,
        "height": 7_000,
        "max_pixels": 50_000_000,
    }
    assert excinfo.value.message == (
        "The PNG image is 8000 x 7000 (56000000 pixels); the limit is 50000000 pixels."
    )


def test_inspect_photo_keeps_pillow_bomb_guard_above_a_generous_max_pixels() -> None:
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(
            bilevel_png(20_000, 20_000), claimed_type=None, max_bytes=10**6, max_pixels=10**12
        )

    assert reason_of(excinfo) == "too_many_pixels"
    assert Image.MAX_IMAGE_PIXELS == limit == 89_478_485


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_inspect_photo_refuses_image_in_pillow_warning_range() -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(
            bilevel_png(10_000, 10_000), claimed_type=None, max_bytes=10**6, max_pixels=10**12
        )

    assert reason_of(excinfo) == "too_many_pixels"
    assert excinfo.value.details["max_pixels"] == Image.MAX_IMAGE_PIXELS


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_inspect_photo_refuses_image_when_bomb_warning_is_raised_as_error() -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(
            bilevel_png(10_000, 10_000), claimed_type=None, max_bytes=10**6, max_pixels=10**12
        )

    assert reason_of(excinfo) == "too_many_pixels"


@pytest.mark.parametrize(
    ("module", "name", "value"),
    [(ImageFile, "LOAD_TRUNCATED_IMAGES", True), (Image, "MAX_IMAGE_PIXELS", None)],
    ids=["truncated-images-allowed", "bomb-guard-off"],
)
def test_inspect_photo_refuses_to_work_with_a_pillow_guard_switched_off(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, value: object
) -> None:
    monkeypatch.setattr(module, name, value)

    with pytest.raises(ConfigurationError, match=name):
        inspect_photo(encode(picture()), claimed_type="image/jpeg", **LIMITS)
    with pytest.raises(ConfigurationError, match=name):
        make_thumbnail(encode(picture()))


# --- HEIC ---------------------------------------------------------------------------------


def heic(image: Image.Image, **params: object) -> bytes:
    if not pillow_heif.libheif_info()["encoders"].get("x265"):
        pytest.skip("libheif here has no HEVC encoder to write HEIC with")
    return encode(image, "HEIF", **params)


@pytest.mark.parametrize("claimed", ["image/heic", "image/heif", None])
def test_inspect_photo_reads_heic_with_gps(claimed: str | None) -> None:
    exif = gps_exif(lat=(28, 54, 36.0), lon=(120, 2, 24.0), alt=85.0, alt_ref=0)
    data = heic(picture(), exif=exif.tobytes())
    facts = inspect_photo(data, claimed_type=claimed, **LIMITS)

    assert (facts.mime_type, facts.width, facts.height) == ("image/heic", 320, 240)
    assert (facts.exif_lat, facts.exif_lon, facts.exif_alt) == pytest.approx((28.91, 120.04, 85.0))


def test_inspect_photo_gives_upright_size_and_camera_orientation_for_heic() -> None:
    exif = Image.Exif()
    exif[BASE.Orientation] = 6
    facts = inspect_photo(heic(picture(), exif=exif.tobytes()), claimed_type="image/heic", **LIMITS)

    assert (facts.orientation, facts.width, facts.height) == (6, 240, 320)


def test_inspect_photo_refuses_truncated_heic() -> None:
    data = heic(picture(size=(640, 480)))
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(data[: len(data) // 2], claimed_type="image/heic", **LIMITS)

    assert reason_of(excinfo) == "truncated"


def test_inspect_photo_refuses_heic_claimed_as_jpeg() -> None:
    with pytest.raises(InvalidImageError) as excinfo:
        inspect_photo(heic(picture()), claimed_type="image/jpeg", **LIMITS)

    assert reason_of(excinfo) == "type_mismatch"
    assert excinfo.value.message == "The file was sent as image/jpeg but is really HEIC/HEIF."


def test_make_thumbnail_of_heic_is_jpeg() -> None:
    thumbnail = Image.open(io.BytesIO(make_thumbnail(heic(picture(size=(640, 480))))))

    assert (thumbnail.format, thumbnail.size) == ("JPEG", (320, 240))


# --- perceptual hash ----------------------------------------------------------------------


def phash_distance(a: str, b: str) -> int:
    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)


def test_recompressed_photo_has_small_phash_distance_and_other_photo_a_large_one() -> None:
    original = picture(seed=7, size=(1600, 1200))
    first = inspect_photo(encode(original, quality=92), claimed_type=None, **LIMITS)
    # what a chat app does: smaller, harder compressed
    recompressed = encode(original.resize((1200, 900)), quality=55)
    near = inspect_photo(recompressed, claimed_type=None, **LIMITS)
    other = inspect_photo(encode(picture(seed=8, size=(1600, 1200))), claimed_type=None, **LIMITS)

    assert near.sha256 != first.sha256
    assert phash_distance(first.phash, near.phash) <= 4
    assert phash_distance(first.phash, other.phash) >= 16


def test_phash_is_of_the_upright_picture() -> None:
    upright = picture(seed=3, size=(600, 800))
    exif = Image.Exif()
    exif[BASE.Orientation] = 6
    # stored sideways with orientation 6, as a phone camera does
    sideways = encode(upright.transpose(Image.Transpose.ROTATE_90), exif=exif)

    facts = inspect_photo(sideways, claimed_type=None, **LIMITS)
    plain = inspect_photo(encode(upright), claimed_type=None, **LIMITS)

    assert phash_distance(facts.phash, plain.phash) <= 4


# --- thumbnails ---------------------------------------------------------------------------


def test_make_thumbnail_applies_orientation_6() -> None:
    stored = Image.new("RGB", (640, 320), (220, 20, 20))
    stored.paste((20, 20, 220), (320, 0, 640, 320))  # left half red, right half blue
    exif = Image.Exif()
    exif[BASE.Orientation] = 6  # shown turned 90 degrees clockwise: red on top

    thumbnail = Image.open(io.BytesIO(make_thumbnail(encode(stored, exif=exif))))

    assert (thumbnail.format, thumbnail.size) == ("JPEG", (160, 320))
    red, _, blue = thumbnail.getpixel((80, 40))
    assert red > 150 > blue
    red, _, blue = thumbnail.getpixel((80, 280))
    assert blue > 150 > red


def test_make_thumbnail_fits_a_large_jpeg_in_max_side() -> None:
    data = encode(picture(size=(4000, 3000)))

    thumbnail = Image.open(io.BytesIO(make_thumbnail(data, max_side=200)))

    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (200, 150))


def test_make_thumbnail_flattens_transparency_on_white() -> None:
    image = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (50, 0, 100, 50))

    thumbnail = Image.open(io.BytesIO(make_thumbnail(encode(image, "PNG"))))

    assert thumbnail.mode == "RGB"
    assert min(thumbnail.getpixel((10, 25))) > 240
    assert thumbnail.getpixel((90, 25))[2] > 200


def test_make_thumbnail_converts_palette_png() -> None:
    image = picture().convert("P", palette=Image.Palette.ADAPTIVE)

    thumbnail = Image.open(io.BytesIO(make_thumbnail(encode(image, "PNG"), max_side=64)))

    assert (thumbnail.mode, thumbnail.size) == ("RGB", (64, 48))


def test_make_thumbnail_refuses_truncated_jpeg() -> None:
    data = encode(picture(size=(640, 480)))
    with pytest.raises(InvalidImageError) as excinfo:
        make_thumbnail(data[: len(data) // 2])

    assert reason_of(excinfo) == "truncated"


# --- one decode for an upload -------------------------------------------------------------


def full_decode_phash(data: bytes) -> str:
    """The perceptual hash of every pixel, decoded at full size with plain Pillow."""
    with Image.open(io.BytesIO(data)) as image:
        return str(imagehash.phash(image.convert("L")))


def test_check_photo_gives_the_facts_of_inspect_photo_and_an_upright_thumbnail() -> None:
    stored = picture(seed=5, size=(4000, 3000))
    exif = gps_exif()
    exif[BASE.Orientation] = 6
    data = encode(stored, exif=exif)

    checked = check_photo(data, claimed_type="image/jpeg", **LIMITS)
    thumbnail = Image.open(io.BytesIO(checked.thumbnail))

    assert checked.facts == inspect_photo(data, claimed_type="image/jpeg", **LIMITS)
    # Sizes are the photo's own, upright, not those of the reduced decode.
    assert (checked.facts.width, checked.facts.height) == (3000, 4000)
    assert (checked.facts.exif_lat, checked.facts.orientation) == (
        pytest.approx(28.91),
        6,
    )
    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (240, 320))
    assert checked.thumbnail == make_thumbnail(data)


def test_check_photo_of_a_large_jpeg_hashes_like_a_full_decode() -> None:
    data = encode(picture(seed=11, size=(4000, 3000)), quality=90)

    checked = check_photo(data, claimed_type=None, **LIMITS)

    assert phash_distance(checked.facts.phash, full_decode_phash(data)) <= 4


def test_check_photo_takes_the_sha256_the_caller_computed() -> None:
    data = encode(picture())
    digest = hashlib.sha256(data).hexdigest()

    assert check_photo(data, claimed_type=None, sha256=digest, **LIMITS).facts.sha256 == digest


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_check_photo_refuses_a_large_jpeg_cut_short_despite_the_reduced_decode(
    cut: float,
) -> None:
    data = encode(picture(seed=2, size=(4000, 3000)))

    with pytest.raises(InvalidImageError) as excinfo:
        check_photo(data[: int(len(data) * cut)], claimed_type="image/jpeg", **LIMITS)

    assert reason_of(excinfo) == "truncated"


def test_check_photo_refuses_more_pixels_than_max_pixels_before_decoding() -> None:
    data = encode(picture(size=(4000, 3000)))

    with pytest.raises(InvalidImageError) as excinfo:
        check_photo(data, claimed_type=None, max_bytes=LIMITS["max_bytes"], max_pixels=10_000_000)

    assert excinfo.value.details == {
        "reason": "too_many_pixels",
        "width": 4000,
        "height": 3000,
        "max_pixels": 10_000_000,
    }


def test_check_photo_of_png_and_heic_gives_a_jpeg_thumbnail() -> None:
    for data in (encode(picture(size=(640, 480)), "PNG"), heic(picture(size=(640, 480)))):
        checked = check_photo(data, claimed_type=None, **LIMITS)

        thumbnail = Image.open(io.BytesIO(checked.thumbnail))
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (320, 240))
        assert (checked.facts.width, checked.facts.height) == (640, 480)
