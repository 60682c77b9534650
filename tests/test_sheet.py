"""Contact sheets on real aligned faces: paging, captions, HTML embedding, mask overlays."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.errors import UsageError
from neuface.sheet import SheetItem, overlay_mask, page_path, render_page, thumbnail, write_sheet


@pytest.fixture(scope="module")
def faces(dfl_fixtures: Path) -> list[np.ndarray]:
    """The 512x512 whole-face t1_* crops first, then the 256x256 full-face Tom Hanks crop."""
    paths = sorted((dfl_fixtures / "aligned").glob("t1_*.jpg")) + [dfl_fixtures / "aligned/Tom_Hanks_54745_0.jpg"]
    return [cv2.imread(str(p)) for p in paths]


def test_png_pages_split_and_named(faces, tmp_path):
    items = [SheetItem(faces[i % len(faces)], f"face_{i:05d}.jpg") for i in range(23)]
    out = tmp_path / "sheet.png"
    written = write_sheet(iter(items), out, thumb=64, columns=5, per_page=10)
    assert written == [out, tmp_path / "sheet_002.png", tmp_path / "sheet_003.png"]
    pages = [cv2.imread(str(p)) for p in written]
    # 10 items in 5 columns = 2 rows; the last page has 3 items in one row of 3 columns.
    cell_w, cell_h = 64 + 4, 64 + 16 + 4
    assert pages[0].shape == (2 * cell_h + 4, 5 * cell_w + 4, 3)
    assert pages[2].shape == (1 * cell_h + 4, 3 * cell_w + 4, 3)
    # The first thumbnail is the first face, resized (512 -> 64).
    expect = thumbnail(faces[0], 64).astype(np.int16)
    got = pages[0][4:68, 4:68].astype(np.int16)
    assert np.abs(got - expect).mean() < 2.0
    assert not list(tmp_path.glob(".*tmp"))


def test_caption_is_drawn(faces):
    with_caption = render_page([SheetItem(faces[0], "00042.jpg")], thumb=96)
    without = render_page([SheetItem(faces[0], "")], thumb=96)
    strip = slice(4 + 96, 4 + 96 + 16)
    assert (with_caption[strip] != without[strip]).any()
    assert (with_caption[:100] == without[:100]).all()


def test_html_is_self_contained_and_lazy(faces, tmp_path):
    items = [SheetItem(f, f"<b>{i}</b>.jpg") for i, f in enumerate(faces)]
    written = write_sheet(items, tmp_path / "g.html", thumb=80, per_page=3)
    assert len(items) == 5
    assert [p.name for p in written] == ["g.html", "g_002.html"]
    text = written[0].read_text()
    assert "<b>0</b>" not in text and "&lt;b&gt;0&lt;/b&gt;.jpg" in text  # captions escaped
    assert 'href="g_002.html"' in text
    assert "http" not in text  # nothing fetched from the network
    blobs = re.findall(r'data-src="data:image/jpeg;base64,([^"]+)"', text)
    assert len(blobs) == 3
    img = cv2.imdecode(np.frombuffer(base64.b64decode(blobs[0]), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (80, 80, 3)
    assert np.abs(img.astype(np.int16) - thumbnail(faces[0], 80)).mean() < 4.0
    assert 'href="g.html"' in written[1].read_text()


def test_overlay_mask_tints_inside_only(faces):
    face = faces[0]
    mask = np.zeros((256, 256, 1), np.float32)
    mask[64:192, 64:192] = 1.0
    out = overlay_mask(face, mask, color=(0, 0, 255), outline=False)
    assert out.shape == face.shape and out.dtype == np.uint8
    inside = (slice(200, 300), slice(200, 300))  # mask is upscaled 2x onto the 512 face
    outside = (slice(0, 100), slice(0, 100))
    d_in = out[inside].astype(np.float32) - face[inside]
    assert d_in[..., 2].mean() > 5 and d_in[..., 0].mean() < -20  # redder, less blue
    assert out[outside].mean() < face[outside].mean()  # background dimmed
    assert (overlay_mask(face, None) == face).all()


def test_empty_and_bad_suffix(tmp_path, faces):
    assert write_sheet([], tmp_path / "none.png") == []
    assert not (tmp_path / "none.png").exists()
    with pytest.raises(UsageError, match="png or .html"):
        write_sheet([SheetItem(faces[0])], tmp_path / "x.gif")


def test_page_path_and_odd_images(tmp_path):
    assert page_path(Path("a/b.png"), 1) == Path("a/b.png")
    assert page_path(Path("a/b.png"), 12) == Path("a/b_012.png")
    grey_float = np.linspace(0, 1, 50 * 30, dtype=np.float32).reshape(30, 50)
    out = write_sheet([SheetItem(grey_float, "é"), SheetItem(np.zeros((40, 40, 4), np.uint8), "bgra")],
                      tmp_path / "odd.png", thumb=32)
    assert cv2.imread(str(out[0])).shape[1] == 2 * 36 + 4
