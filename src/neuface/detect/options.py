"""`neuface detect`'s options, declared once for the CLI, `[detect]` in neuface.toml and `neuface run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuface.detect.backends.registry import help_text as backend_help
from neuface.detect.landmarks import HELP as LANDMARKS_HELP
from neuface.dfl.facetype import DEFAULT_FACE_TYPE, face_type_name
from neuface.optionspec import StageOptions, option


@dataclass(frozen=True)
class DetectConfig(StageOptions):
    """One detect run. `device` and `smooth_fps` are set by code (the root --device, tests), not by flags."""

    STAGE = "detect"

    backend: str = option("auto", help=backend_help())
    landmarks: str = option("auto", help=LANDMARKS_HELP)  # neuface.detect.landmarks.LANDMARKER_CHOICES
    face_type: str = option(DEFAULT_FACE_TYPE.short_name,
                            help="h|mf|f|wf|head or DFL's half_face|midfull_face|full_face|whole_face|head.")
    size: int | None = option(None, show_default=False,  # None = DFL's default for the face type
                              help="Aligned face size in px. Default: 512 (768 for head), as DFL.")
    jpeg_quality: int = option(90, min=1, max=100, help="JPEG quality of the faces.")
    max_faces: int = option(0, min=0, help="Keep the N largest faces per frame; 0 = all.")
    min_face_size: int = option(0, min=0, help="Ignore faces whose box is smaller (px).")
    debug: bool | None = option(None, flags="--debug/--no-debug", show_default=False,
                                help="Write aligned_debug/ images. Default: on for dst, off for src.")
    identity: bool = option(True, flags="--identity/--no-identity",
                            help="Store an identity embedding per face (for sort --by identity).")
    models: Path | None = option(None, flags="--models", show_default=False,
                                 help="Folder with the insightface buffalo_l ONNX files. Default: "
                                      "~/.insightface/models/buffalo_l.")
    workers: int = option(0, min=0, help="CPU worker processes; 0 = one per core (one process for fewer than 16 "
                                         "frames).")
    batch_size: int = option(8, min=1, help="Frames per inference batch on GPU.")
    smooth: bool = option(False, flags="--smooth/--no-smooth",
                          help="Steady the faces over time (One-Euro filter per face track, frames in name order): "
                               "only for frames of ONE video (extract's numbered frames), not curated or mixed "
                               "photos.")
    smooth_strength: float = option(0.5, flags="--smooth-strength", min=0.0, max=1.0,
                                    help="0..1: higher = steadier, lags more in fast motion.")
    force: bool = option(False, flags="--force",
                         help="Replace a non-empty aligned/ (moved to aligned_backup_<timestamp>/ first).")
    redo_deleted_debug: bool = option(False, flags="--redo-deleted-debug",
                                      help="Re-detect only frames whose aligned_debug image you deleted (lower "
                                           "threshold, then the other backend), replacing their faces.")
    device: str = "cpu"
    smooth_fps: float = 0.0  # 0 = the side's video rate (25 when there is none)

    def resolved_size(self) -> int:
        from neuface.detect.faces import default_size

        return self.size or default_size(face_type_name(self.face_type))
