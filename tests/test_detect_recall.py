"""The one recall rule and imglab reader the detector tests and benchmarks share, on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuface.detect.recall import MIN_IOU, Recall, human_boxes, match_boxes, recall_on
from neuface.errors import UsageError


def test_match_boxes_counts_hits_misses_and_false_detections() -> None:
    truth = [np.array([0, 0, 10, 10]), np.array([100, 100, 110, 110])]
    # IoU with the first drawn box: 50 / 150 = 0.333 (>= 0.3); the second detection overlaps nothing
    found = [np.array([5, 0, 15, 10]), np.array([300, 300, 310, 310])]
    assert match_boxes(truth, found) == Recall(found=1, total=2, false=1)
    # 0.333 is below a 0.34 threshold: then nothing matches
    assert match_boxes(truth, found, min_iou=0.34) == Recall(found=0, total=2, false=2)
    assert MIN_IOU == 0.3 and match_boxes([], []) == Recall(0, 0, 0) and Recall(0, 0, 0).rate == 0.0


def test_human_boxes_reads_imglab_skips_ignored_and_sums_over_images(tmp_path: Path) -> None:
    (tmp_path / "training.xml").write_text(
        "<dataset><images><image file='a.jpg'><box top='10' left='20' width='30' height='40'/>"
        "<box top='0' left='0' width='5' height='5' ignore='1'/></image></images></dataset>")
    (tmp_path / "testing.xml").write_text("<dataset><images><image file='b.jpg'/></images></dataset>")
    truth = human_boxes(tmp_path)
    assert list(truth) == ["a.jpg", "b.jpg"] and truth["b.jpg"] == []
    np.testing.assert_array_equal(truth["a.jpg"][0], [20, 10, 50, 50])
    assert len(truth["a.jpg"]) == 1
    detections = {"a.jpg": [np.array([20, 10, 50, 50])], "b.jpg": [np.array([0, 0, 9, 9])]}
    r = recall_on(truth, detections.__getitem__)
    assert r == Recall(found=1, total=1, false=1) and r.rate == 1.0


def test_a_broken_box_file_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "training.xml").write_text("<dataset><images>")
    with pytest.raises(UsageError, match=r"training\.xml: cannot read face boxes"):
        human_boxes(tmp_path)
