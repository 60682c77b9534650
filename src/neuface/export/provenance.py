"""Provenance written into every `.dfm` as ONNX `metadata_props`.

DeepFaceLive never reads metadata, so this costs nothing at run time; it lets anyone holding a `.dfm`
see that it is synthetic media, which model and iteration made it, from which facesets, and the consent
statement given to `train`. `neuface export --check` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from neuface import __version__
from neuface.dfl.facetype import FaceType, UnknownFaceTypeError


def short_face_type(face_type: str) -> str:
    """DFL's long face-type names (`midfull_face`) and short codes (`MF`) as the short code (`mf`);
    anything else (even empty) is kept as written, lower-cased: provenance records, it does not judge."""
    try:
        return FaceType.from_string(face_type).short_name
    except UnknownFaceTypeError:
        return str(face_type).strip().lower()


@dataclass
class Provenance:
    """What a `.dfm` says about itself; built from the model folder's state by the exporter."""

    model_name: str
    iteration: int
    archi: str
    face_type: str
    resolution: int
    faceset_fingerprint: str = ""
    consent: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_state(cls, model_name: str, options: Mapping[str, Any], iteration: int,
                   neuface_state: Mapping[str, Any] | None = None) -> Provenance:
        """From DFL's options dict plus neuface-only state (fingerprint, consent)."""
        state = dict(neuface_state or {})
        fp = state.get("faceset_fingerprint", state.get("faceset_fingerprints", ""))
        if isinstance(fp, Mapping):
            fp = ",".join(f"{k}:{v}" for k, v in sorted(fp.items()))
        return cls(
            model_name=model_name,
            iteration=int(iteration),
            archi=str(options.get("archi", "")),
            face_type=short_face_type(str(options.get("face_type", ""))),
            resolution=int(options.get("resolution", 0)),
            faceset_fingerprint=str(fp or ""),
            consent=str(state.get("consent", "") or ""),
        )

    @property
    def is_whole_face(self) -> bool:
        return short_face_type(self.face_type) == FaceType.WHOLE_FACE.short_name

    def metadata(self, precision: str = "fp32", created: datetime | None = None) -> dict[str, str]:
        """The `metadata_props` key/values (all strings, as ONNX requires)."""
        when = (created or datetime.now(timezone.utc)).replace(microsecond=0).isoformat()
        props = {
            "neuface.version": __version__,
            "created": when,
            "model_name": self.model_name,
            "iteration": str(self.iteration),
            "archi": self.archi,
            "face_type": self.face_type,
            "resolution": str(self.resolution),
            "faceset_fingerprint": self.faceset_fingerprint,
            "synthetic_media": "true",
            "precision": precision,
        }
        if self.consent:
            props["consent"] = self.consent
        props.update({k: str(v) for k, v in self.extra.items()})
        return props
