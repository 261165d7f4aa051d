"""The A4 poster: real, embedded text; a QR code a phone reads; nothing off the page."""

from __future__ import annotations

import io
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pdfplumber
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stations.config import Settings
from stations.domain.codes import display_code, new_code
from stations.domain.model import AMENITY_LABELS
from stations.formats.poster import (
    ELLIPSIS,
    MISSING_MARK,
    PosterData,
    PosterFontMissingError,
    render,
)

FONT = Settings().poster_font
A4_PT = (595.28, 841.89)
URL = "https://yizhan.example.org/s/"
EXT_B = "\U0002003e"  # 𠀾: CJK Ext-B, no glyph in wqy-microhei

pytestmark = pytest.mark.skipif(not FONT.is_file(), reason=f"needs the poster font {FONT}")


def data(**overrides: object) -> PosterData:
    code = str(overrides.pop("code", "K7MQ3XPA"))
    values: dict[str, object] = {
        "name": "渝中区解放碑步行街工会驿站（建行民族路支行）",
        "code": code,
        "url": URL + code,
        "hours_text": "周一至周日 08:00—22:00，法定节假日照常开放",
        "entry_text": "有人值守，无需注册",
        "address": "渝中区 重庆市渝中区民族路188号建设银行一楼东侧",
        "amenities": tuple(AMENITY_LABELS.values()),
        "union": "渝中区工会",
        "phone": "023-63800000",
    }
    values.update(overrides)
    return PosterData(**values)  # type: ignore[arg-type]


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "poster.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return "".join(out.stdout.split())


@pytest.fixture(scope="module")
def poster() -> bytes:
    return render(data(), font_path=FONT).pdf


def test_poster_is_one_a4_portrait_page_under_150_kb(poster: bytes) -> None:
    with pdfplumber.open(io.BytesIO(poster)) as pdf:
        assert len(pdf.pages) == 1
        page = pdf.pages[0]
        assert (round(page.width, 2), round(page.height, 2)) == A4_PT
    assert len(poster) < 150_000


@pytest.mark.needs_binary("pdffonts")
def test_every_font_is_embedded_as_a_subset(poster: bytes, tmp_path: Path) -> None:
    path = tmp_path / "p.pdf"
    path.write_bytes(poster)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()[2:]
    assert rows, out.stdout
    for row in rows:
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row
        assert "+" in row.split()[0]  # a subset's tag, AAAAAA+WenQuanYiMicroHei


@pytest.mark.needs_binary("pdftotext")
def test_text_is_real_text_with_name_hours_amenities_and_code(
    poster: bytes, tmp_path: Path
) -> None:
    text = text_of(poster, tmp_path)
    d = data()
    for want in (
        d.name,
        "工会驿站",
        "".join(d.hours_text.split()),
        "扫码签到·评价·报告问题",
        display_code(d.code),
        d.url,
        d.union,
        d.phone,
        *AMENITY_LABELS.values(),
    ):
        assert want in text, want
    assert "测试海报" not in text


@pytest.mark.needs_binary("pdftoppm", "zbarimg")
@pytest.mark.parametrize("note", [None, "测试海报：未设置 YIZHAN_PUBLIC_URL，二维码指向 http://x"])
def test_qr_code_at_72_dpi_reads_as_the_station_page_url(tmp_path: Path, note: str | None) -> None:
    code = new_code()
    pdf = render(data(code=code, test_note=note), font_path=FONT).pdf
    (tmp_path / "p.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "72", "-png", "-singlefile", "p.pdf", "p"], cwd=tmp_path, check=True
    )
    out = subprocess.run(
        ["zbarimg", "-q", "--raw", str(tmp_path / "p.png")], capture_output=True, text=True
    )
    assert out.stdout.strip() == URL + code


@pytest.mark.needs_binary("pdftotext")
def test_test_note_is_printed_when_given(tmp_path: Path) -> None:
    note = "测试海报：未设置 YIZHAN_PUBLIC_URL，二维码指向 http://127.0.0.1:8000"
    text = text_of(render(data(test_note=note), font_path=FONT).pdf, tmp_path)
    assert "".join(note.split()) in text


def test_a_character_without_glyph_is_drawn_as_the_mark_and_reported() -> None:
    made = render(data(name=f"磁器口{EXT_B}驿站"), font_path=FONT)
    assert made.missing == (0x2003E,)
    assert made.missing_header == "U+2003E"
    with pdfplumber.open(io.BytesIO(made.pdf)) as pdf:
        drawn = "".join(ch["text"] for ch in pdf.pages[0].chars)
    assert f"磁器口{MISSING_MARK}驿站" in drawn


def test_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PosterFontMissingError) as caught:
        render(data(), font_path=tmp_path / "none.ttc")
    assert caught.value.code == "poster_font_missing"
    assert "fonts-wqy-microhei" in str(caught.value)
    assert "YIZHAN_POSTER_FONT" in str(caught.value)
    not_a_font = tmp_path / "bad.ttf"
    not_a_font.write_bytes(b"not a font at all")
    with pytest.raises(PosterFontMissingError):
        render(data(), font_path=not_a_font)


_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_OTHER = st.sampled_from([*"ABCxyz0189 -·（）()，。、：；！？“”《》#/", EXT_B, "\U0002a6d6"])
_TEXT = st.one_of(_CJK, _CJK, _CJK, _OTHER)


@given(
    name=st.text(_TEXT, min_size=1, max_size=200),
    address=st.text(_TEXT, max_size=500),
    hours=st.text(_TEXT, max_size=200),
    amenities=st.sets(st.sampled_from(list(AMENITY_LABELS.values()))),
    note=st.booleans(),
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_any_text_stays_on_the_page_and_every_character_is_drawn_or_reported(
    name: str, address: str, hours: str, amenities: set[str], note: bool
) -> None:
    labels = tuple(a for a in AMENITY_LABELS.values() if a in amenities)
    d = data(
        name=name,
        address=address,
        hours_text=hours,
        amenities=labels,
        test_note="测试海报：未设置 YIZHAN_PUBLIC_URL，二维码指向 http://127.0.0.1:8000"
        if note
        else None,
    )
    made = render(d, font_path=FONT)
    with pdfplumber.open(io.BytesIO(made.pdf)) as pdf:
        page = pdf.pages[0]
        chars, rects = page.chars, page.rects
        width, height = page.width, page.height
    qr = [r for r in rects if tuple(r["non_stroking_color"]) == (0.0, 0.0, 0.0)]
    qr_box = (
        min(r["x0"] for r in qr),
        min(r["top"] for r in qr),
        max(r["x1"] for r in qr),
        max(r["bottom"] for r in qr),
    )
    for ch in chars:
        assert ch["x0"] >= 0 and ch["x1"] <= width + 0.01, ch["text"]
        assert ch["top"] >= 0 and ch["bottom"] <= height + 0.01, ch["text"]
        overlaps_qr = (
            ch["x0"] < qr_box[2]
            and ch["x1"] > qr_box[0]
            and ch["top"] < qr_box[3]
            and ch["bottom"] > qr_box[1]
        )
        assert not overlaps_qr, f"{ch['text']!r} drawn over the QR code"
    drawn = {ch["text"] for ch in chars}
    cut = ELLIPSIS in drawn
    for ch in set(name + address + hours) - {" "}:
        assert ch in drawn or ord(ch) in made.missing or cut, repr(ch)
    assert set(made.missing) <= {ord(c) for c in name + address + hours}
    assert 0x2003E not in {ord(c) for c in drawn}  # never silently drawn blank


@pytest.mark.needs_binary("pdftotext")
def test_posters_made_in_eight_threads_each_carry_their_own_text(tmp_path: Path) -> None:
    names = [f"{district}区第{i}号工会驿站" for i, district in enumerate("渝江南北沙九大巴")]
    jobs = [(name, new_code()) for name in names for _ in range(3)]

    def make(job: tuple[str, str]) -> bytes:
        name, code = job
        return render(data(name=name, code=code), font_path=FONT).pdf

    with ThreadPoolExecutor(8) as pool:
        pdfs = list(pool.map(make, jobs))
    for i, ((name, code), pdf) in enumerate(zip(jobs, pdfs, strict=True)):
        folder = tmp_path / str(i)
        folder.mkdir()
        text = text_of(pdf, folder)
        assert name in text
        assert display_code(code) in text
        assert URL + code in text
