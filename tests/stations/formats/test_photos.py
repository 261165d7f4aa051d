"""Spot-check photos: re-encoded upright without metadata, bombs and non-images refused."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import pytest
from PIL import Image

from stations.domain.inspections import PhotoRefusedError, PhotoTooLargeError
from stations.formats.photos import MAX_SIDE, THUMB_SIDE, reencode, sniff

CAPS = {"max_bytes": 15 * 1024 * 1024, "max_pixels": 50_000_000}


def jpeg(size=(2400, 1200), *, mode="RGB", color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "JPEG", **save)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width``×``height`` (and whose data is a few bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_gps_and_every_other_tag_go_and_the_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    exif[0x010F] = "Phone"
    exif[0x8825] = {1: "N", 2: (29.0, 33.0, 30.0), 3: "E", 4: (106.0, 34.0, 12.0)}
    raw = jpeg((2000, 1000), exif=exif.tobytes(), icc_profile=b"")
    assert b"Phone" in raw
    photo = reencode(raw, name="门口.jpg", **CAPS)
    kept = Image.open(io.BytesIO(photo.data))
    assert kept.format == "JPEG" and kept.mode == "RGB"
    assert kept.size == (800, 1600)  # upright (portrait), longest side 1600
    assert (photo.width, photo.height) == kept.size
    assert dict(kept.getexif()) == {}
    assert "exif" not in kept.info and "icc_profile" not in kept.info and "xmp" not in kept.info
    assert b"Phone" not in photo.data and b"Exif" not in photo.data
    thumb = Image.open(io.BytesIO(photo.thumb))
    assert max(thumb.size) == THUMB_SIDE and thumb.size[1] > thumb.size[0]


def test_a_small_photo_keeps_its_size_and_a_big_one_is_shrunk():
    assert reencode(jpeg((640, 480)), name="a.jpg", **CAPS).width == 640
    big = reencode(jpeg((4000, 3000)), name="b.jpg", **CAPS)
    assert max(big.width, big.height) == MAX_SIDE


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = png_header(30000, 30000)  # 900 million pixels: 2.7 GB once decoded
    assert len(bomb) < 2000
    tracemalloc.start()
    try:
        with pytest.raises(PhotoRefusedError, match="过大") as refused:
            reencode(bomb, name="bomb.png", **CAPS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "bomb.png" in str(refused.value)
    assert peak < 5_000_000


def test_a_picture_just_over_the_pixel_cap_is_refused_by_our_own_check():
    with pytest.raises(PhotoRefusedError, match="像素过大"):
        reencode(png_header(8000, 7000), name="p.png", **CAPS)  # 56 MP > 50 MP


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"hello, this is text", "不是 JPEG、PNG 或 WebP"),
        (b"<html><script>alert(1)</script></html>", "不是 JPEG、PNG 或 WebP"),
        (b"GIF89a" + b"\0" * 100, "不是 JPEG、PNG 或 WebP"),
        # polyglots: an image's magic bytes in front of something else
        (b"\xff\xd8\xff\xe0" + b"PK\x03\x04" + b"\0" * 200, "已损坏"),
        (b"\x89PNG\r\n\x1a\n<svg onload=alert(1)>", "已损坏"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "兼容性最佳"),
    ],
)
def test_what_is_not_a_photo_is_refused_in_chinese_naming_the_file(data, said):
    with pytest.raises(PhotoRefusedError, match=said) as refused:
        reencode(data, name="x.jpg", **CAPS)
    assert "x.jpg" in str(refused.value)


def test_the_format_comes_from_the_bytes_not_the_name():
    png = io.BytesIO()
    Image.new("RGB", (10, 10)).save(png, "PNG")
    assert sniff(png.getvalue()) == "PNG"
    assert reencode(png.getvalue(), name="named.jpg", **CAPS).content_type == "image/jpeg"


def test_a_cmyk_jpeg_and_an_alpha_png_become_rgb():
    cmyk = reencode(jpeg((300, 200), mode="CMYK", color=(0, 0, 0, 0)), name="c.jpg", **CAPS)
    assert Image.open(io.BytesIO(cmyk.data)).mode == "RGB"
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 0, 255, 0)).save(out, "PNG")
    clear = Image.open(io.BytesIO(reencode(out.getvalue(), name="a.png", **CAPS).data))
    assert clear.mode == "RGB"
    pixel = clear.getpixel((150, 100))
    assert isinstance(pixel, tuple) and min(pixel) > 240  # transparent on white, not black


def test_an_animation_keeps_its_first_frame():
    out = io.BytesIO()
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    first = Image.open(io.BytesIO(reencode(out.getvalue(), name="a.webp", **CAPS).data))
    pixel = first.getpixel((32, 32))
    assert isinstance(pixel, tuple) and pixel[0] > 200 and pixel[1] < 60


def test_the_byte_cap_refuses_before_reading_the_image():
    raw = jpeg((50, 50))
    with pytest.raises(PhotoTooLargeError, match="超过上限"):
        reencode(raw + b"\0" * 3000, name="big.jpg", max_bytes=2048, max_pixels=10**6)
    with pytest.raises(PhotoTooLargeError):
        reencode(b"not even an image" * 200, name="big.jpg", max_bytes=1024, max_pixels=10**6)
