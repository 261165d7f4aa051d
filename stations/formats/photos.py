"""Spot-check photos: checked and re-encoded with Pillow before they are kept.

What is kept is a new JPEG made from the pixels only: no EXIF (so no GPS position of the
inspector's phone), no XMP, no ICC profile (colours converted to sRGB first); turned
upright as the phone's orientation tag says; its longest side at most 1600 px; and a
320 px thumbnail for lists. Refused, before anything is decoded: more bytes than the cap,
anything that is not JPEG, PNG or WebP by its first bytes (HEIC is told how to switch the
camera to JPEG), and images whose header declares more pixels than the cap (a
decompression bomb is a few kB that would decode to gigabytes).
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from stations.domain.inspections import Photo, PhotoRefusedError, PhotoTooLargeError

MAX_SIDE = 1600
THUMB_SIDE = 320
QUALITY = 80
THUMB_QUALITY = 75
HEIC_ADVICE = "请在手机相机设置中选择“兼容性最佳”（JPEG）后重拍"
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")
_SRGB = ImageCms.createProfile("sRGB")


def sniff(data: bytes) -> str | None:
    """The image format by its first bytes: JPEG, PNG, WEBP, HEIC, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC"
    return None


def _refuse(name: str, why: str) -> PhotoRefusedError:
    return PhotoRefusedError(f"照片“{name}”{why}")


def _to_srgb(im: Image.Image) -> Image.Image:
    """RGB pixels in sRGB: an embedded ICC profile (a CMYK print profile, Display P3) is
    applied, then dropped."""
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "CMYK", "L"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, src, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None
        if converted is not None:
            return converted
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> bytes:
    # A new image from the pixels alone: nothing of the upload's info (EXIF, XMP, ICC,
    # comments) can ride along into the file we keep.
    bare = Image.frombytes("RGB", im.size, im.tobytes())
    out = io.BytesIO()
    bare.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def reencode(data: bytes, *, name: str, max_bytes: int, max_pixels: int) -> Photo:
    """The photo in ``data`` checked and re-encoded (see the module); PhotoTooLargeError
    or PhotoRefusedError (Chinese, naming ``name``) if it cannot be kept."""
    if len(data) > max_bytes:
        size, cap = len(data) / 1e6, max_bytes / 1e6
        msg = f"照片“{name}”有 {size:.1f} MB，超过上限 {cap:.0f} MB，请压缩后再传"
        raise PhotoTooLargeError(msg)
    kind = sniff(data)
    if kind == "HEIC":
        raise _refuse(name, f"是 HEIC 格式，不能保存。{HEIC_ADVICE}")
    if kind is None:
        raise _refuse(name, "不是 JPEG、PNG 或 WebP 图片")
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as im:
            width, height = im.size
            if width < 1 or height < 1 or width * height > max_pixels:
                cap = max_pixels // 1_000_000
                raise _refuse(name, f"尺寸 {width}×{height} 像素过大（上限 {cap} 百万像素）")
            longest = max(width, height)
            if kind == "JPEG" and longest > MAX_SIDE:
                # Decode at 1/2, 1/4 or 1/8 scale directly, while the longest side stays
                # at least MAX_SIDE (a 12 MP photo: half the time).
                im.draft(None, (-(-width * MAX_SIDE // longest), -(-height * MAX_SIDE // longest)))
            im.seek(0)  # an animation: its first frame
            im.load()
            upright = ImageOps.exif_transpose(im) or im
            rgb = _to_srgb(upright)
    except PhotoRefusedError:
        raise
    except Image.DecompressionBombError:
        raise _refuse(name, f"尺寸过大（上限 {max_pixels // 1_000_000} 百万像素）") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise _refuse(name, "已损坏或不是完整的图片，请重拍或换一张") from None
    rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    body = _jpeg(rgb, QUALITY)
    thumb_image = rgb.copy()
    thumb_image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return Photo(
        data=body,
        thumb=_jpeg(thumb_image, THUMB_QUALITY),
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(body).hexdigest(),
    )
