"""Images that show synthesized faces carry provenance in PNG text chunks, pixels untouched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from neuface.provenance import IPTC_TRAINED_ALGORITHMIC, add_png_text, encode_png, synthetic_media_text
from neuface.training.preview import write_previews


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)


def test_text_chunks_read_back_and_pixels_are_unchanged(tmp_path) -> None:
    img = _image()
    text = synthetic_media_text("alice_SAEHD", 1200, "training preview")
    path = tmp_path / "p.png"
    path.write_bytes(encode_png(img, text))
    info = Image.open(path).info
    assert info["synthetic_media"] == "true"
    assert info["digital_source_type"] == IPTC_TRAINED_ALGORITHMIC
    assert info["neuface_model"] == "alice_SAEHD" and info["neuface_iteration"] == "1200"
    assert "iteration 1200" in info["Description"]
    assert np.array_equal(cv2.imread(str(path)), img)


def test_unicode_values_survive(tmp_path) -> None:
    path = tmp_path / "u.png"
    path.write_bytes(encode_png(_image(), {"neuface_model": "Zoë ✓"}))
    assert Image.open(path).info["neuface_model"] == "Zoë ✓"


def test_not_a_png_is_refused() -> None:
    with pytest.raises(ValueError):
        add_png_text(b"GIF89a....", {"a": "b"})


def test_training_previews_are_marked_but_loss_curve_is_not(tmp_path) -> None:
    text = synthetic_media_text("m", 7, "training preview")
    write_previews(tmp_path, 7, _image(), [[1.0, 2.0], [0.5, 1.0]], keep_history=True, provenance=text)
    assert Image.open(tmp_path / "preview.png").info["synthetic_media"] == "true"
    assert Image.open(tmp_path / "0000007.png").info["neuface_iteration"] == "7"
    assert "synthetic_media" not in Image.open(tmp_path / "loss.png").info
