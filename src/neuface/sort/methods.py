"""The sort methods by DFL name and menu number (0 `blur` ... 14 `final-fast`), plus neuface's `identity`.

Each method pairs a per-face metric (run in worker processes) with a planner that turns all metrics into
the new order and the trash list. DFL's menu text is kept so users of DFL's menu recognise the entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from neuface.errors import UsageError
from neuface.sort import metrics, order
from neuface.sort.best import sort_best
from neuface.sort.faces import Face
from neuface.sort.identity import identity_order
from neuface.sort.order import Plan


@dataclass(frozen=True)
class PlanInput:
    """What a planner may look at besides the metrics."""

    names: Sequence[str]
    target: int = 2000


@dataclass(frozen=True)
class SortMethod:
    key: str
    number: int
    title: str
    score_label: str
    measure: Callable[[Face], Any] | None  # None: the method reads images itself (absdiff)
    plan: Callable[[list[Any], PlanInput], Plan]
    trashes: str = ""  # what goes to the trash, for the help text


def _desc(values: list[Any], _: PlanInput) -> Plan:
    return order.by_score(values, descending=True)


def _desc_all(values: list[Any], _: PlanInput) -> Plan:
    return order.by_score(values, descending=True, trash_if=lambda v: False)


def _desc_nonzero(values: list[Any], _: PlanInput) -> Plan:
    return order.by_score(values, descending=True, trash_if=order.zero_or_none)


def _unsupported(values: list[Any], _: PlanInput) -> Plan:  # pragma: no cover - absdiff is planned separately
    raise AssertionError("absdiff is planned by neuface.sort.absdiff")


METHODS: tuple[SortMethod, ...] = (
    SortMethod("blur", 0, "blur", "sharpness", metrics.blur, _desc_nonzero, "non-DFL files and score 0"),
    SortMethod("motion-blur", 1, "motion blur", "laplacian var", metrics.motion_blur, _desc_nonzero,
               "non-DFL files and score 0"),
    SortMethod("face-yaw", 2, "face yaw direction", "yaw", metrics.face_yaw, _desc, "non-DFL files"),
    SortMethod("face-pitch", 3, "face pitch direction", "pitch", metrics.face_pitch, _desc, "non-DFL files"),
    SortMethod("face-source-rect-size", 4, "face rect size in source image", "rect area", metrics.source_rect_size,
               _desc, "non-DFL files"),
    SortMethod("hist", 5, "histogram similarity", "dist to prev", metrics.bgr_hists,
               lambda v, _: order.hist_chain(v)),
    SortMethod("hist-dissim", 6, "histogram dissimilarity", "dissimilarity", metrics.hist_dissim_hist,
               lambda v, _: order.hist_dissim(v)),
    SortMethod("brightness", 7, "brightness", "brightness", metrics.brightness, _desc_all),
    SortMethod("hue", 8, "hue", "hue", metrics.hue, _desc_all),
    SortMethod("black", 9, "amount of black pixels", "black", metrics.black,
               lambda v, _: order.by_score(v, descending=False, trash_if=lambda x: False)),
    SortMethod("origname", 10, "original filename", "source", metrics.origname,
               lambda v, _: order.by_score(v, descending=False), "non-DFL files"),
    SortMethod("oneface", 11, "one face in image", "source", metrics.origname,
               lambda v, p: order.oneface(p.names, v), "every face of frames with 2+ faces"),
    SortMethod("absdiff", 12, "absolute pixel difference", "absdiff to prev", None, _unsupported),
    SortMethod("final", 13, "best faces", "sharpness", metrics.final, lambda v, p: sort_best(v, p.target),
               "all but ~target faces"),
    SortMethod("final-fast", 14, "best faces faster", "rect area", metrics.final_fast,
               lambda v, p: sort_best(v, p.target), "all but ~target faces"),
    SortMethod("identity", 15, "identity (other people last)", "identity dist", metrics.identity,
               lambda v, _: identity_order(v)),
)
_BY_KEY = {m.key: m for m in METHODS}
# DFL's own spellings (menu text, underscores) are accepted too.
_ALIASES = {"motion_blur": "motion-blur", "face_yaw": "face-yaw", "face_pitch": "face-pitch",
            "face_source_rect_size": "face-source-rect-size", "hist_dissim": "hist-dissim",
            "final_fast": "final-fast", "best": "final", "best-fast": "final-fast",
            "final-by-blur": "final", "final-by-size": "final-fast"}
DEFAULT_MENU_CHOICE = 5  # DFL's menu default: hist


def method_list() -> str:
    """`0 blur, 1 motion-blur, ...` for help and error texts."""
    return ", ".join(f"{m.number} {m.key}" for m in METHODS)


def get_method(name: str | int) -> SortMethod:
    """A method by DFL name, alias or menu number; a UsageError listing the methods otherwise."""
    text = str(name).strip().lower()
    if text.isdigit():
        for m in METHODS:
            if m.number == int(text):
                return m
    key = _ALIASES.get(text, text.replace("_", "-"))
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise UsageError(f"unknown sort method {name!r}; choose one of: {method_list()}")
