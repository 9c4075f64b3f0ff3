"""Phone photos: CER with and without the photo stage, per distortion, and the stage's seconds per 12 MP photo.

Run: uv run python -m bench.photo [--pages 4] [--write]
Prints its table; with --write replaces the "Phone photos" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
import tesserocr
from PIL import Image

from app.ocr import OcrEngine, clean_nepali, flatten_photo, tessdata_dir
from app.ocr._deskew import deskew
from app.ocr._tessdata import BUNDLED_DIR
from bench._docs import add_write_option, publish
from bench.ocr import NEPALI_MORE
from tests.ocr.pages import ENGLISH_LETTER, NEPALI_NOTICE, cer, render_page
from tests.ocr.photos import PHOTO_SIZE, Distortions, photograph

log = logging.getLogger("bench.photo")
LANGUAGES = "nep+eng"
A4 = (2480, 3508)  # pixels at 300 DPI
SECTION = "## Phone photos"
SEED = 24
TEXT_DPIS = (300, 250, 200, 150, 110)


@dataclass(frozen=True)
class Row:
    """One distortion (or none), drawn per page from the seeded generator."""

    name: str
    draw: Callable[[np.random.Generator], Distortions] | None  # None: the clean page itself, a flat scan


ROWS = [
    Row("flat scan (the clean page)", None),
    Row("perspective 10-25° on a desk", lambda r: Distortions(tilt=r.uniform(10, 25))),
    Row("lighting gradient", lambda r: Distortions(gradient=r.uniform(0.3, 0.5))),
    Row("hard shadow", lambda r: Distortions(shadow=r.uniform(0.35, 0.5))),
    Row("JPEG quality 70-85", lambda r: Distortions(jpeg_quality=int(r.integers(70, 86)))),
    Row("slight blur", lambda r: Distortions(blur=r.uniform(0.8, 1.4))),
    Row(
        "all of them (a phone photo)",
        lambda r: Distortions(
            tilt=r.uniform(10, 25),
            gradient=r.uniform(0.3, 0.5),
            shadow=r.uniform(0.35, 0.5),
            jpeg_quality=int(r.integers(70, 86)),
            blur=r.uniform(0.8, 1.4),
        ),
    ),
]


def make_pages(count: int) -> list[tuple[str, Image.Image, str]]:
    """A4 pages at 300 DPI: Nepali notices (two of every three) and English letters."""
    pages = []
    for index in range(count):
        if index % 3 == 2:
            image, truth = render_page(ENGLISH_LETTER[index % 2 :] + ENGLISH_LETTER, width=A4[0], min_height=A4[1])
            pages.append(("English", image, truth))
        else:
            image, truth = render_page(NEPALI_NOTICE[index % 3 :] + NEPALI_MORE, width=A4[0], min_height=A4[1])
            pages.append(("Nepali", image, truth))
    return pages


def read(engine: OcrEngine, image: Image.Image, *, stage: bool) -> str:
    """The page pipeline after decoding: [photo stage ->] deskew -> OCR -> Nepali clean-up."""
    if stage:
        image = flatten_photo(image).image
    straight, _ = deskew(image)
    text, _ = engine.recognize(straight, dpi=300, languages=LANGUAGES)
    return clean_nepali(text)


def measure_dpi(engine: OcrEngine, pages: list[tuple[str, Image.Image, str]]) -> dict[int, dict[str, float]]:
    """Mean CER of the clean pages scaled down from 300 DPI: how small the text may get."""
    table: dict[int, dict[str, float]] = {}
    for dpi in TEXT_DPIS:
        by_script: dict[str, list[float]] = {}
        for script, page, truth in pages:
            size = (round(page.width * dpi / 300), round(page.height * dpi / 300))
            smaller = page.resize(size, Image.Resampling.LANCZOS) if dpi < 300 else page
            text, _ = engine.recognize(smaller, dpi=dpi, languages=LANGUAGES)
            by_script.setdefault(script, []).append(cer(truth, clean_nepali(text)))
        table[dpi] = {script: statistics.mean(values) for script, values in by_script.items()}
        log.info("%d DPI: %s", dpi, table[dpi])
    return table


@dataclass
class Measured:
    row: str
    script: str
    without: list[float]
    with_stage: list[float]
    kinds: list[str]


def measure(engine: OcrEngine, pages: list[tuple[str, Image.Image, str]]) -> tuple[list[Measured], list[float]]:
    """CER per row and script, with and without the stage; stage seconds on each full phone photo."""
    results: dict[tuple[str, str], Measured] = {}
    stage_seconds: list[float] = []
    for index, (script, page, truth) in enumerate(pages):
        for row_index, row in enumerate(ROWS):
            rng = np.random.default_rng([SEED, index, row_index])
            if row.draw is None:
                picture = page.convert("L")
            else:
                picture = photograph(page, row.draw(rng), seed=int(rng.integers(2**31)))
            start = time.process_time()
            flattened = flatten_photo(picture)
            if row.draw is not None and picture.size == PHOTO_SIZE:
                stage_seconds.append(time.process_time() - start)
            entry = results.setdefault((row.name, script), Measured(row.name, script, [], [], []))
            entry.without.append(cer(truth, read(engine, picture, stage=False)))
            entry.with_stage.append(cer(truth, read(engine, picture, stage=True)))
            entry.kinds.append(flattened.kind)
            log.info(
                "page %d %s / %s: %.2f%% without, %.2f%% with (%s)",
                index + 1,
                script,
                row.name,
                100 * entry.without[-1],
                100 * entry.with_stage[-1],
                flattened.kind,
            )
    return list(results.values()), stage_seconds


def machine() -> str:
    """One line on the hardware and the libraries that do the work."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(iter(re.findall(r"model name\s*:\s*(.+)", cpuinfo)), platform.processor() or "unknown CPU")
    library = tesserocr.tesseract_version().splitlines()[0]
    models = "the shipped nep/eng models" if tessdata_dir() == BUNDLED_DIR else f"models from {tessdata_dir()}"
    return (
        f"nproc {len(os.sched_getaffinity(0))}, {model.strip()}, Python {platform.python_version()}; "
        f"tesserocr {tesserocr.__version__} with lib{library}, {models}; "
        f"OpenCV {cv2.__version__}, pillow-heif {pillow_heif.__version__}"
    )


def report(
    results: list[Measured],
    stage_seconds: list[float],
    dpis: dict[int, dict[str, float]],
    command: str,
    load: tuple[float, float],
) -> str:
    lines = [
        SECTION,
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d')}): synthetic A4 pages at 300 DPI (Noto fonts, Pillow + raqm), "
        f"photographed by `tests/ocr/photos.py` into {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} (12 MP) pictures, seeded "
        f"({SEED}); languages `{LANGUAGES}`. Each distortion alone, then all together; the page pipeline after "
        "decoding (deskew, OCR, Nepali clean-up) without and with the photo stage.",
        "",
        f"Machine: {machine()}. Load average {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        "| distortion | script | pages | CER without the stage | CER with the stage | stage's choice |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        kinds = ", ".join(f"{kind} {m.kinds.count(kind)}" for kind in sorted(set(m.kinds)))
        lines.append(
            f"| {m.row} | {m.script} | {len(m.without)} | {statistics.mean(m.without):.2%} | "
            f"{statistics.mean(m.with_stage):.2%} | {kinds} |"
        )
    lines += ["", *_verdict(results)]
    lines += [
        "",
        f"Photo stage, CPU seconds per 12 MP photo on one core (`cv2.setNumThreads(1)`, process time, "
        f"{len(stage_seconds)} photos): median {statistics.median(stage_seconds):.3f} s, "
        f"max {max(stage_seconds):.3f} s. CER does not depend on the machine's load; the seconds do.",
        "",
        '"Stage\'s choice": `scan` left as is, `page` found and warped, `whole` no page found (light '
        "correction and binarization only). CER is the Levenshtein distance over the truth's length after NFC "
        "and whitespace folding (`tests/ocr/pages.py`).",
        "",
    ]
    scripts = sorted(next(iter(dpis.values())))
    lines += [
        "The DPI the text needs, which sets how far a large photo is decoded down (at least 12 MP, "
        "`app/ocr/_images.py`): the clean pages (10 pt text) scaled down from 300 DPI with Lanczos, straight "
        "to Tesseract, mean CER:",
        "",
        "| DPI | " + " | ".join(scripts) + " |",
        "| ---: | " + " | ".join("---:" for _ in scripts) + " |",
        *(f"| {dpi} | " + " | ".join(f"{row[script]:.2%}" for script in scripts) + " |" for dpi, row in dpis.items()),
        "",
    ]
    return "\n".join(lines)


def _verdict(results: list[Measured]) -> list[str]:
    def mean(row: str, script: str, attribute: str) -> float:
        found = [m for m in results if m.row == row and m.script == script]
        return statistics.mean(getattr(found[0], attribute)) if found else float("nan")

    flat, photo = ROWS[0].name, ROWS[-1].name
    return [
        f"- Nepali phone photos with the stage: {mean(photo, 'Nepali', 'with_stage'):.2%} against "
        f"{mean(flat, 'Nepali', 'without'):.2%} for the same pages as flat scans "
        f"(target: within 1.5 points, and at most 3 %).",
        f"- Flat scans: {mean(flat, 'Nepali', 'without'):.2%} without the stage, "
        f"{mean(flat, 'Nepali', 'with_stage'):.2%} with it (Nepali); {mean(flat, 'English', 'without'):.2%} and "
        f"{mean(flat, 'English', 'with_stage'):.2%} (English) (target: changed by at most 0.1 point).",
    ]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6, help="pages per distortion (2 of 3 Nepali)")
    add_write_option(parser)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    pages = make_pages(args.pages)
    with OcrEngine(tessdata_dir(), page_timeout=300) as engine:
        results, stage_seconds = measure(engine, pages)
        dpis = measure_dpi(engine, pages)
    load = (load_before, os.getloadavg()[0])
    command = " ".join(["uv run python -m bench.photo", *sys.argv[1:]])
    publish(SECTION, report(results, stage_seconds, dpis, command, load), write=args.write)


if __name__ == "__main__":
    main()
