"""What to export: the network and provenance of a model folder, or of an in-memory SAEHDModel.

Goes through neuface.train's model-folder API, so a DFL-trained and a neuface-trained folder export the
same way; provenance comes from the model's options and its neuface-only state (`model.extra`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuface.export.provenance import Provenance

if TYPE_CHECKING:
    from torch import nn


def is_saehd_model(obj: Any) -> bool:
    """A `neuface.train.model.SAEHDModel` (network plus options and state), duck-typed to keep torch lazy."""
    return hasattr(obj, "net") and hasattr(obj, "options") and hasattr(obj, "extra")


def provenance_of(model: Any, name: str) -> Provenance:
    """Provenance of a SAEHDModel: options (archi, face type, resolution), iteration, fingerprints, consent."""
    o = model.options
    options = {"archi": o.archi, "face_type": o.face_type, "resolution": o.resolution}
    return Provenance.from_state(name, options, int(model.iter), dict(model.extra or {}))


def load_for_export(model_dir: Path, name: str | None = None) -> tuple[nn.Module, Provenance, Path]:
    """(network on CPU, provenance, DFL's default `.dfm` path) of a model in `model_dir`."""
    from neuface.train import find_model, load_model

    ref = find_model(Path(model_dir), name)
    model = load_model(ref, device="cpu", training=False)
    return model.net.eval(), provenance_of(model, ref.name), ref.dfm_file
