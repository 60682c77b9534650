"""Contact sheets: many face thumbnails with captions on PNG pages or in one self-contained HTML gallery.

Used by `neuface mask --sheet` (mask overlays) and `neuface sort --sheet` (sort order). A sheet is for a
quick human look at thousands of faces, so items are streamed (only one page is held in memory) and
each output file is written atomically.

    from neuface.sheet import SheetItem, write_sheet, overlay_mask
    write_sheet((SheetItem(overlay_mask(img, m), name) for img, m, name in faces), "masks.png")

The format follows the extension: `.png` writes pages `masks.png`, `masks_002.png`, ...;
`.html`/`.htm` writes `masks.html` (then `masks_002.html`, ... past `per_page` items) with the
thumbnails embedded as base64 JPEGs that the browser decodes only when scrolled into view.
"""

from __future__ import annotations

import base64
import html
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neuface.atomic import atomic_write_bytes, atomic_write_text
from neuface.errors import UsageError

PNG_SUFFIXES = (".png",)
HTML_SUFFIXES = (".html", ".htm")
DEFAULT_PNG_PER_PAGE = 100
DEFAULT_HTML_PER_PAGE = 5000
_CAPTION_H = 16
_PAD = 4
_BG = (32, 32, 32)


@dataclass
class SheetItem:
    """One thumbnail: an image (BGR uint8 HxWx3, grey HxW, or float in [0,1]) and a caption line."""

    image: np.ndarray
    caption: str = ""


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Normalise grey/BGRA/float [0,1] images to BGR uint8 so any array can go on a sheet."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def overlay_mask(image: np.ndarray, mask: np.ndarray | None, color: tuple[int, int, int] = (0, 0, 255),
                 alpha: float = 0.45, outline: bool = True) -> np.ndarray:
    """The image with `mask` (HxW or HxWx1, [0,1] float or uint8, any size) tinted in `color` (BGR).

    Outside the mask is darkened a little and the mask edge is drawn, so a mask that misses hair or
    spills onto the background stands out at thumbnail size. `mask=None` returns the image unchanged.
    """
    img = to_bgr_uint8(image)
    if mask is None:
        return img.copy()
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[:, :, 0]
    m = m.astype(np.float32) / (255.0 if m.dtype == np.uint8 else 1.0)
    h, w = img.shape[:2]
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    m = np.clip(m, 0.0, 1.0)[:, :, None]
    f = img.astype(np.float32)
    tint = np.array(color, np.float32)
    out = f * (1.0 - alpha * m) + tint * (alpha * m)
    out = out * (1.0 - 0.35 * (1.0 - m))
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if outline:
        binary = (m[:, :, 0] >= 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (0, 255, 255), max(1, round(min(h, w) / 128)))
    return out


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """`image` fitted into a size×size square (aspect kept, letterboxed on the sheet background)."""
    img = to_bgr_uint8(image)
    h, w = img.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.full((size, size, 3), _BG, np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out


def _fit_caption(text: str, width: int, font_scale: float) -> str:
    """Trim a caption from the left (file numbers are at the end) so it fits `width` pixels.

    OpenCV's Hershey font is ASCII-only, so other characters show as '?'.
    """
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    cut = text
    while cut:
        (tw, _), _ = cv2.getTextSize(cut, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        if tw <= width:
            return cut
        text = text[1:]
        cut = "~" + text if text else ""
    return cut


def render_page(items: list[SheetItem], thumb: int = 128, columns: int = 10) -> np.ndarray:
    """One PNG page (BGR uint8) of `items` in a grid, each thumbnail with its caption underneath."""
    if not items:
        raise ValueError("render_page needs at least one item")
    columns = max(1, min(columns, len(items)))
    rows = (len(items) + columns - 1) // columns
    cell_w, cell_h = thumb + _PAD, thumb + _CAPTION_H + _PAD
    page = np.full((rows * cell_h + _PAD, columns * cell_w + _PAD, 3), _BG, np.uint8)
    font_scale = 0.35 if thumb < 160 else 0.45
    for i, item in enumerate(items):
        r, c = divmod(i, columns)
        y, x = _PAD + r * cell_h, _PAD + c * cell_w
        page[y:y + thumb, x:x + thumb] = thumbnail(item.image, thumb)
        if item.caption:
            text = _fit_caption(item.caption, thumb, font_scale)
            cv2.putText(page, text, (x + 1, y + thumb + _CAPTION_H - 4), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, (230, 230, 230), 1, cv2.LINE_AA)
    return page


def page_path(out_path: Path, page: int) -> Path:
    """`name.ext` for the first page, `name_002.ext`, `name_003.ext`, ... after it."""
    return out_path if page == 1 else out_path.with_name(f"{out_path.stem}_{page:03d}{out_path.suffix}")


def _chunks(items: Iterable[SheetItem], n: int) -> Iterator[list[SheetItem]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _jpeg_b64(image: np.ndarray, quality: int = 85) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode thumbnail")
    return base64.b64encode(buf.tobytes()).decode("ascii")


_HTML_HEAD = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{background:#202020;color:#ddd;font:12px sans-serif;margin:8px}}
h1{{font-size:15px;font-weight:normal}}
.g{{display:flex;flex-wrap:wrap;gap:4px}}
figure{{margin:0;width:{thumb}px}}
img{{width:{thumb}px;height:{thumb}px;background:#333;display:block}}
figcaption{{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;direction:rtl;text-align:left}}
</style></head><body><h1>{title}</h1><div class="g">
"""
# Thumbnails sit in data-src and are decoded only once scrolled near the viewport.
_HTML_TAIL = """</div>{nav}
<script>
(function(){var imgs=document.querySelectorAll('img[data-src]');
function show(i){i.src=i.getAttribute('data-src');i.removeAttribute('data-src');}
if(!('IntersectionObserver' in window)){imgs.forEach(show);return;}
var io=new IntersectionObserver(function(es){es.forEach(function(e){if(e.isIntersecting){show(e.target);
io.unobserve(e.target);}});},{rootMargin:'800px'});imgs.forEach(function(i){io.observe(i);});})();
</script></body></html>
"""


def render_html(items: list[SheetItem], thumb: int = 128, title: str = "neuface sheet",
                prev_page: str | None = None, next_page: str | None = None) -> str:
    """A self-contained HTML gallery page (thumbnails embedded as base64 JPEG, lazily decoded)."""
    parts = [_HTML_HEAD.format(title=html.escape(title), thumb=thumb)]
    for item in items:
        cap = html.escape(item.caption)
        data = _jpeg_b64(thumbnail(item.image, thumb))
        parts.append(f'<figure><img data-src="data:image/jpeg;base64,{data}" alt="{cap}" title="{cap}">'
                     f"<figcaption>&lrm;{cap}</figcaption></figure>\n")
    links = []
    if prev_page:
        links.append(f'<a href="{html.escape(prev_page)}">previous page</a>')
    if next_page:
        links.append(f'<a href="{html.escape(next_page)}">next page</a>')
    nav = f"<p>{' · '.join(links)}</p>" if links else ""
    parts.append(_HTML_TAIL.replace("{nav}", nav))
    return "".join(parts)


def write_sheet(items: Iterable[SheetItem], out_path: str | Path, thumb: int = 128, columns: int = 10,
                per_page: int | None = None, title: str | None = None) -> list[Path]:
    """Write `items` as a contact sheet at `out_path` (`.png` pages or `.html`); return the files written.

    `per_page` defaults to 100 for PNG (10×10 at the default `columns`) and 5000 for HTML. Every file is
    written atomically; nothing is written when `items` is empty. An unknown extension is a UsageError.
    """
    out = Path(out_path)
    suffix = out.suffix.lower()
    if suffix not in PNG_SUFFIXES + HTML_SUFFIXES:
        raise UsageError(f"{out}: sheet must end in .png or .html")
    if thumb < 16:
        raise UsageError(f"sheet thumbnail size {thumb} is too small (min 16)")
    is_html = suffix in HTML_SUFFIXES
    per_page = max(1, per_page or (DEFAULT_HTML_PER_PAGE if is_html else DEFAULT_PNG_PER_PAGE))
    title = title or out.stem
    written: list[Path] = []
    # Look one chunk ahead so an HTML page knows whether a next page exists.
    chunks = _chunks(items, per_page)
    current = next(chunks, None)
    page = 1
    while current is not None:
        following = next(chunks, None)
        target = page_path(out, page)
        if is_html:
            prev_name = page_path(out, page - 1).name if page > 1 else None
            next_name = page_path(out, page + 1).name if following is not None else None
            text = render_html(current, thumb, f"{title} ({page})" if page > 1 or following else title,
                               prev_name, next_name)
            atomic_write_text(target, text)
        else:
            ok, buf = cv2.imencode(".png", render_page(current, thumb, columns))
            if not ok:
                raise ValueError(f"{target}: could not encode PNG page")
            atomic_write_bytes(target, buf.tobytes())
        written.append(target)
        current, page = following, page + 1
    return written
