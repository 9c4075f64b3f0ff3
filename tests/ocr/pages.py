"""Synthetic scanned pages with known text, rendered with Pillow + raqm and Noto fonts.

The fonts come from PyPI packages (fontpkg-noto-sans-devanagari, fontpkg-noto-sans) and Pillow's
wheels carry raqm, HarfBuzz and FriBiDi: no system font or library is needed."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import fontpkg
from PIL import Image, ImageDraw, ImageFont, features

# Variable fonts: their default instance is the regular weight.
DEVANAGARI_FONT = fontpkg.path("Noto Sans Devanagari")
LATIN_FONT = fontpkg.path("Noto Sans")
DPI = 300
A5_WIDTH = 1748  # pixels at 300 DPI
MARGIN = 150
FONT_SIZE = 40  # about 10 pt at 300 DPI
LINE_HEIGHT = 72

NEPALI_NOTICE = [
    "नेपाल सरकार",
    "गृह मन्त्रालय",
    "जिल्ला प्रशासन कार्यालय, काठमाडौं",
    "सार्वजनिक सूचना",
    "मिति: २०८१/०४/१५",
    "यस कार्यालयबाट नागरिकता प्रमाणपत्र र राहदानी सम्बन्धी सेवा लिन आउने सेवाग्राहीहरूले "
    "आवश्यक कागजातहरू साथमा लिई आउनुहुन अनुरोध छ। Online Form भरेर मात्र कार्यालयमा आउनुहोला।",
    "सेवा प्रवाह बिहान १० बजेदेखि दिउँसो ३ बजेसम्म हुनेछ। सार्वजनिक बिदाको दिन कार्यालय बन्द रहनेछ।",
    "थप जानकारीका लागि कार्यालयको वेबसाइट हेर्नुहोला वा फोन नम्बर ०१-४२६१८०० मा सम्पर्क गर्नुहोला।",
    "प्रमुख जिल्ला अधिकारी",
]

ENGLISH_LETTER = [
    "Government of Nepal",
    "Ministry of Home Affairs",
    "District Administration Office, Kathmandu",
    "Public Notice",
    "Applicants for citizenship certificates and passports are requested to bring the original "
    "documents and one photocopy of each. Incomplete applications will not be accepted.",
    "Service hours are from 10 am to 3 pm on working days. The office remains closed on public holidays.",
    "For more information, please call 01-4261800 or visit the office website.",
]

_DEVANAGARI_RUN = re.compile(r"[\u0900-\u097f\u200c\u200d]+(?:[\s,.:;()\-/]+[\u0900-\u097f\u200c\u200d]+)*")


def require_raqm() -> None:
    """Fail loudly: without raqm Pillow draws Devanagari conjuncts and matras in the wrong order."""
    assert features.check("raqm"), "Pillow was built without raqm; Devanagari would render broken"


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)


def _runs(line: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
    """Split a line into Devanagari and Latin runs: the Devanagari font has no Latin letters."""
    runs: list[tuple[str, ImageFont.FreeTypeFont]] = []
    position = 0
    for match in _DEVANAGARI_RUN.finditer(line):
        if match.start() > position:
            runs.append((line[position : match.start()], _font(LATIN_FONT, FONT_SIZE)))
        runs.append((match.group(0), _font(DEVANAGARI_FONT, FONT_SIZE)))
        position = match.end()
    if position < len(line):
        runs.append((line[position:], _font(LATIN_FONT, FONT_SIZE)))
    return runs


def _width(line: str) -> float:
    return sum(font.getlength(text) for text, font in _runs(line))


def wrap(paragraphs: list[str], width: int) -> list[str]:
    """Greedy word wrap to the given pixel width."""
    lines: list[str] = []
    for paragraph in paragraphs:
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}".strip()
            if current and _width(candidate) > width:
                lines.append(current)
                current = word
            else:
                current = candidate
        lines.append(current)
    return lines


def render_page(paragraphs: list[str], *, width: int = A5_WIDTH, min_height: int = 0) -> tuple[Image.Image, str]:
    """Return a white 'L' page with the paragraphs typeset on it, and its ground-truth text."""
    require_raqm()
    lines = wrap(paragraphs, width - 2 * MARGIN)
    height = max(min_height, 2 * MARGIN + LINE_HEIGHT * len(lines))
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(lines):
        x = float(MARGIN)
        for text, font in _runs(line):
            draw.text((x, MARGIN + row * LINE_HEIGHT), text, font=font, fill=0)
            x += font.getlength(text)
    return page, "\n".join(lines)


def normalize(text: str) -> str:
    """NFC with every run of whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def cer(truth: str, hypothesis: str) -> float:
    """Character error rate: Levenshtein distance over the ground truth's length, after normalize()."""
    reference, guess = normalize(truth), normalize(hypothesis)
    previous = list(range(len(guess) + 1))
    for i, r in enumerate(reference, 1):
        current = [i]
        for j, g in enumerate(guess, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != g)))
        previous = current
    return previous[-1] / max(1, len(reference))
