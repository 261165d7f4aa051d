"""The printable A4 poster of a station: its name, hours, amenities and a QR code to its page.

Set with reportlab in a CJK TrueType font (wqy-microhei: reportlab reads TrueType outlines
only, not the CFF of Noto CJK), embedded as a subset; the QR code (segno) is drawn as vector
rectangles, so it stays sharp at any print size. Every block has a height budget: its text
shrinks down to a floor size and is then cut with "…", so a 200-character name or a
500-character address never runs off the page. A character the font has no glyph for (a
rare CJK Ext-B character, say) would silently vanish from the paper: it is drawn as 〓 (the
typesetters' mark for a missing character) and reported, so the caller can say which.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stations.domain.codes import display_code

# A4 portrait in PostScript points (1 pt = 1/72 in).
PAGE_W, PAGE_H = 595.2756, 841.8898
MM = 72 / 25.4
MARGIN = 15 * MM
RED = (176 / 255, 16 / 255, 42 / 255)
INK = (34 / 255, 34 / 255, 34 / 255)
GREY = (90 / 255, 90 / 255, 90 / 255)
PALE = (245 / 255, 240 / 255, 240 / 255)
MISSING_MARK = "〓"
ELLIPSIS = "…"
# Closing punctuation never starts a line (kinsoku); the character before it moves down too.
_NO_LINE_START = frozenset("）)]】》〉」』，,。.、；;：:！!？?”’…%")
# Bumped when the layout changes: part of the poster's ETag.
LAYOUT_VERSION = "1"


class PosterFontMissingError(RuntimeError):
    """The poster font cannot be read (not installed, or not a TrueType font)."""

    code = "poster_font_missing"

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        super().__init__(
            f"海报字体不可用（{path}：{why}）。请安装 fonts-wqy-microhei"
            "（apt-get install fonts-wqy-microhei）"
            "或设置 YIZHAN_POSTER_FONT 为一个 TrueType 中文字体"
        )


@dataclass(frozen=True, slots=True)
class PosterData:
    """What a poster shows, as text ready to print (the service builds it from a station)."""

    name: str
    code: str  # canonical, e.g. K7MQ3XPA
    url: str  # absolute: what the QR code holds
    hours_text: str
    entry_text: str
    address: str
    amenities: tuple[str, ...]  # labels, in vocabulary order
    union: str
    phone: str
    test_note: str | None = None  # printed in red when the URL is not the public one


@dataclass(frozen=True, slots=True)
class Poster:
    """A rendered poster: the PDF and the code points drawn as 〓 (no glyph in the font)."""

    pdf: bytes
    missing: tuple[int, ...] = field(default=())

    @property
    def missing_header(self) -> str:
        """The missing characters as ``U+2003E,U+2A6D6`` (HTTP headers are Latin-1)."""
        return ",".join(f"U+{cp:04X}" for cp in self.missing)


@dataclass(frozen=True, slots=True)
class _Font:
    name: str  # as registered with reportlab
    glyphs: frozenset[int]  # the code points it has a glyph for
    # reportlab's TTFont is shared by every document set in it and not thread-safe: its
    # subsetter reads composite glyphs through the face's one seek position (seen: KeyError
    # in makeSubset with 8 threads, 1 run in 6). A poster takes 20–30 ms of pure Python, so
    # under the GIL holding this lock for the whole of it costs no parallelism.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)


_fonts: dict[Path, _Font] = {}
_fonts_lock = threading.Lock()


def _font(path: Path) -> _Font:
    """The font at ``path`` (TTC index 0), registered with reportlab once per process."""
    found = _fonts.get(path)
    if found is not None:
        return found
    with _fonts_lock:
        found = _fonts.get(path)
        if found is not None:
            return found
        if not path.is_file():
            raise PosterFontMissingError(path, "文件不存在")
        # The font load (0.15–0.4 s) and reportlab's import (60 ms) are paid by the first
        # poster, not by every start of the server.
        from reportlab.pdfbase import pdfmetrics  # deferred: font load 0.15–0.4 s
        from reportlab.pdfbase.ttfonts import TTFError, TTFont  # deferred: as above

        name = "yizhan-" + hashlib.sha256(str(path).encode()).hexdigest()[:8]
        try:
            ttf = TTFont(name, str(path), subfontIndex=0)
        except (TTFError, OSError) as exc:
            raise PosterFontMissingError(path, str(exc)) from None
        pdfmetrics.registerFont(ttf)
        found = _fonts[path] = _Font(name, frozenset(ttf.face.charToGlyph))
        return found


def font_fingerprint(path: Path) -> str:
    """Names the font file's state (path, size, modification time), for the ETag."""
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def qr_matrix(data: str, *, border: int = 4) -> list[list[bool]]:
    """The QR code of ``data`` (ECC level M), quiet zone included, as rows of dark flags."""
    import segno  # deferred: 40 ms at import, needed only by the first poster

    qr = segno.make(data, error="m", micro=False, boost_error=False)
    return [[bool(v) for v in row] for row in qr.matrix_iter(border=border)]


def _runs(matrix: Sequence[Sequence[bool]]) -> Iterable[tuple[int, int, int]]:
    """Dark modules merged into horizontal runs: (row, column, length)."""
    for y, row in enumerate(matrix):
        x, n = 0, len(row)
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                yield y, start, x - start
            else:
                x += 1


class _Setter:
    """Text measured, wrapped and fitted in one font, recording missing characters."""

    def __init__(self, font: _Font, string_width: Any) -> None:
        self.font = font
        self.missing: set[int] = set()
        self._width = string_width
        self._mark = MISSING_MARK if ord(MISSING_MARK) in font.glyphs else "?"

    def clean(self, text: str) -> str:
        """``text`` on one line (breaks and tabs as spaces), each missing glyph as 〓."""
        out = []
        for ch in " ".join(text.split()):
            if ord(ch) in self.font.glyphs or ch == " ":
                out.append(ch)
            else:
                self.missing.add(ord(ch))
                out.append(self._mark)
        return "".join(out)

    def width(self, text: str, size: float) -> float:
        return float(self._width(text, self.font.name, size))

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """Lines of at most ``width`` points, broken between any two characters (CJK), with
        closing punctuation kept off a line's start when that still fits."""
        lines: list[str] = []
        line: list[str] = []
        used = 0.0
        for ch in text:
            w = self.width(ch, size)
            if line and used + w > width:
                if ch in _NO_LINE_START and len(line) > 1:
                    carried = line.pop()
                    lines.append("".join(line).rstrip())
                    line, used = [carried], self.width(carried, size)
                    if used + w > width:  # two characters wider than the line: give up
                        lines.append("".join(line))
                        line, used = [], 0.0
                else:
                    lines.append("".join(line).rstrip())
                    line, used = [], 0.0
                if ch == " " and not line:
                    continue
            line.append(ch)
            used += w
        if line:
            lines.append("".join(line).rstrip())
        return [ln for ln in lines if ln] or [""]

    def cut(self, line: str, size: float, width: float) -> str:
        """``line`` shortened to end in "…" within ``width``."""
        while line and self.width(line + ELLIPSIS, size) > width:
            line = line[:-1]
        return line.rstrip() + ELLIPSIS

    def fit(
        self, text: str, *, size: float, floor: float, width: float, lines: int
    ) -> tuple[float, list[str]]:
        """The largest size from ``size`` down to ``floor`` at which ``text`` takes at most
        ``lines`` lines of ``width``; at the floor, the text cut with "…" after them."""
        step = 1.0 if size - floor > 4 else 0.5
        s = size
        while s >= floor:
            wrapped = self.wrap(text, s, width)
            if len(wrapped) <= lines:
                return s, wrapped
            s -= step
        wrapped = self.wrap(text, floor, width)
        kept = wrapped[:lines]
        kept[-1] = self.cut(kept[-1], floor, width)
        return floor, kept


def render(data: PosterData, *, font_path: Path) -> Poster:
    """The poster of ``data`` as a one-page A4 PDF set in the font at ``font_path``."""
    font = _font(font_path)
    from reportlab.pdfbase.pdfmetrics import stringWidth  # deferred: reportlab import 60 ms
    from reportlab.pdfgen import canvas as pdfcanvas  # deferred: reportlab import 60 ms

    with font.lock:
        return _render(data, font, stringWidth, pdfcanvas)


def _render(data: PosterData, font: _Font, stringWidth: Any, pdfcanvas: Any) -> Poster:  # noqa: N803
    t = _Setter(font, stringWidth)
    f = font.name
    buf = io.BytesIO()
    c = pdfcanvas.Canvas(
        buf,
        pagesize=(PAGE_W, PAGE_H),
        pageCompression=1,
        initialFontName=f,  # else an unembedded Helvetica is listed in the PDF
        initialFontSize=12,
        invariant=1,  # the same station gives the same bytes (no creation date, fixed id)
    )
    name = t.clean(data.name)
    c.setTitle(f"{name} · 工会驿站")
    c.setAuthor(t.clean(data.union))
    c.setCreator("yizhan")
    inner = PAGE_W - 2 * MARGIN

    def centred(
        lines: Sequence[str], size: float, top: float, leading: float, *, bold: bool = False
    ) -> float:
        c.setFont(f, size)
        y = top - size
        for line in lines:
            c.drawCentredString(PAGE_W / 2, y, line, mode=2 if bold else 0)
            y -= leading
        return y + leading - size * 0.3  # the bottom of the last line's descenders

    # -- top: the red band, the name, the test note -------------------------------------------
    band_h = 46 * MM
    c.setFillColorRGB(*RED)
    c.rect(0, PAGE_H - band_h, PAGE_W, band_h, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    c.setStrokeColorRGB(1, 1, 1)
    c.setLineWidth(1.2)  # wqy-microhei has no bold face: fill and stroke (render mode 2)
    c.setFont(f, 60)
    c.drawCentredString(PAGE_W / 2, PAGE_H - 28 * MM, "工会驿站", mode=2)
    c.setFont(f, 14)
    c.drawCentredString(PAGE_W / 2, PAGE_H - 39 * MM, "户外劳动者的温馨港湾 · 渝工港湾")
    c.setFillColorRGB(*INK)
    c.setStrokeColorRGB(*INK)
    size, lines = t.fit(name, size=26, floor=14, width=inner, lines=2)
    c.setLineWidth(0.6)
    top = centred(lines, size, PAGE_H - band_h - 7 * MM, size * 1.25, bold=True)
    if data.test_note:
        c.setFillColorRGB(*RED)
        note = t.clean(data.test_note)
        nsize, nlines = t.fit(note, size=10, floor=7, width=inner, lines=2)
        top = centred(nlines, nsize, top - 3 * MM, nsize * 1.3)
        c.setFillColorRGB(*INK)

    # -- bottom up: the footer, the amenities, the facts, the call to action -------------------
    footer_h = 24 * MM
    c.setFillColorRGB(*PALE)
    c.rect(0, 0, PAGE_W, footer_h, stroke=0, fill=1)
    c.setFillColorRGB(*GREY)
    contact = f"管理单位：{t.clean(data.union)}"
    if data.phone:
        contact += f"　联系电话：{t.clean(data.phone)}"
    fsize, flines = t.fit(contact, size=11, floor=7, width=inner, lines=1)
    c.setFont(f, fsize)
    c.drawCentredString(PAGE_W / 2, 14 * MM, flines[0])
    c.setFont(f, 11)
    c.drawCentredString(
        PAGE_W / 2, 7 * MM, f"驿站编号 {display_code(data.code)}　　本海报由工会驿站登记系统生成"
    )

    c.setFillColorRGB(*INK)
    y = footer_h + 6 * MM
    amenities = [t.clean(a) for a in data.amenities]
    if amenities:
        col_w = inner / 4
        rows = (len(amenities) + 3) // 4
        row_h = 7.5 * MM
        for i, label in enumerate(amenities):
            cx = MARGIN + (i % 4) * col_w
            cy = y + (rows - 1 - i // 4) * row_h
            c.setFillColorRGB(*RED)
            c.rect(cx, cy, 3.6 * MM, 3.6 * MM, stroke=0, fill=1)
            c.setFillColorRGB(*INK)
            asize, alines = t.fit(label, size=13, floor=8, width=col_w - 7 * MM, lines=1)
            c.setFont(f, asize)
            c.drawString(cx + 5.5 * MM, cy + 0.4 * MM, alines[0])
        y += rows * row_h
        c.setFont(f, 14)
        c.setLineWidth(0.4)
        c.drawString(MARGIN, y + 1 * MM, "驿站提供", mode=2)
        y += 9 * MM

    label_w = 24 * MM
    facts = [
        ("地址", data.address, 2),
        ("进入方式", data.entry_text, 2),
        ("开放时间", data.hours_text, 2),
    ]
    for label, value, budget in facts:
        text = t.clean(value) or "—"
        vsize, vlines = t.fit(text, size=14, floor=9, width=inner - label_w, lines=budget)
        leading = vsize * 1.35
        y += leading * (len(vlines) - 1)
        c.setFont(f, 14)
        c.setLineWidth(0.4)
        c.drawString(MARGIN, y, label, mode=2)
        c.setFont(f, vsize)
        for i, line in enumerate(vlines):
            c.drawString(MARGIN + label_w, y - i * leading, line)
        y += 14 + 3 * MM
    c.setStrokeColorRGB(*RED)
    c.setLineWidth(0.6 * MM)
    c.line(MARGIN, y, PAGE_W - MARGIN, y)
    y += 5 * MM

    c.setFillColorRGB(*GREY)
    usize, ulines = t.fit(t.clean(data.url), size=10, floor=6, width=inner, lines=1)
    c.setFont(f, usize)
    c.drawCentredString(PAGE_W / 2, y, ulines[0])
    y += usize + 3 * MM
    c.setFillColorRGB(*RED)
    c.setFont(f, 20)
    c.drawCentredString(PAGE_W / 2, y, "扫码  签到 · 评价 · 报告问题")
    y += 20 + 2 * MM

    # -- the QR code: as large as the space left allows, within print-friendly bounds ----------
    space = top - 3 * MM - y
    side = max(50 * MM, min(92 * MM, space))
    matrix = qr_matrix(data.url)
    module = side / len(matrix)
    x0 = (PAGE_W - side) / 2
    qr_top = y + side + (space - side) / 2 if space > side else y + side
    c.setFillColorRGB(0, 0, 0)
    path = c.beginPath()
    for row, col, n in _runs(matrix):
        # A hair wider than a module: no white seams between neighbouring runs on screen.
        path.rect(x0 + col * module, qr_top - (row + 1) * module, n * module + 0.02, module + 0.02)
    c.drawPath(path, stroke=0, fill=1)

    c.showPage()
    c.save()
    return Poster(buf.getvalue(), tuple(sorted(t.missing)))
