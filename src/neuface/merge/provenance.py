"""Container metadata that says a merged video holds synthetic media and which model made it.

Written whether or not the visible label is on. `digital_source_type` uses IPTC's term for media made by a
trained model, which content-credential tools recognise.
"""

from __future__ import annotations

from neuface import __version__
from neuface.provenance import IPTC_TRAINED_ALGORITHMIC

__all__ = ["IPTC_TRAINED_ALGORITHMIC", "merge_metadata"]


def merge_metadata(model_name: str, iteration: int | None, label: bool, source_name: str) -> dict[str, str]:
    it = f", iteration {iteration}" if iteration is not None else ""
    meta = {
        "comment": f"Synthetic media: faces replaced by neuface {__version__} merge using model {model_name}{it}.",
        "synthetic_media": "true",
        "digital_source_type": IPTC_TRAINED_ALGORITHMIC,
        "neuface_model": model_name,
        "neuface_version": __version__,
        "neuface_source": source_name,
        "neuface_label": "visible" if label else "off",
    }
    if iteration is not None:
        meta["neuface_iteration"] = str(iteration)
    return meta
