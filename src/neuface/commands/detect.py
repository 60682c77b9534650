"""`neuface detect`: frames -> aligned faces with DFL metadata in aligned/ (DFL scripts 3/4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.detect.backends.registry import help_text as backend_help
from neuface.detect.landmarks import HELP as LANDMARKS_HELP
from neuface.workspace import Side

COMMAND_SETTINGS = {
    "help": "Detect, align and save faces into data_<side>/aligned/ (DFL scripts 3/4).",
}


def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which side: src (the face to learn) or dst (the footage).")],
    backend: Annotated[str, typer.Option(help=backend_help())] = "auto",
    landmarks: Annotated[str, typer.Option(help=LANDMARKS_HELP)] = "auto",
    face_type: Annotated[str, typer.Option(
        help="h|mf|f|wf|head or DFL's half_face|midfull_face|full_face|whole_face|head.")] = "wf",
    size: Annotated[int | None, typer.Option(
        help="Aligned face size in px. Default: 512 (768 for head), as DFL.", show_default=False)] = None,
    jpeg_quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality of the faces.")] = 90,
    max_faces: Annotated[int, typer.Option(min=0, help="Keep the N largest faces per frame; 0 = all.")] = 0,
    min_face_size: Annotated[int, typer.Option(min=0, help="Ignore faces whose box is smaller (px).")] = 0,
    debug: Annotated[bool | None, typer.Option(
        "--debug/--no-debug", help="Write aligned_debug/ images. Default: on for dst, off for src.",
        show_default=False)] = None,
    identity: Annotated[bool, typer.Option(
        "--identity/--no-identity", help="Store an identity embedding per face (for sort --by identity).")] = True,
    models: Annotated[Path | None, typer.Option(
        "--models", help="Folder with the insightface buffalo_l ONNX files. Default: ~/.insightface/models/"
        "buffalo_l.", show_default=False)] = None,
    workers: Annotated[int, typer.Option(
        min=0, help="CPU worker processes; 0 = one per core (one process for fewer than 16 frames).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per inference batch on GPU.")] = 8,
    smooth: Annotated[bool, typer.Option(
        "--smooth/--no-smooth", help="Steady the faces over time (One-Euro filter per face track, frames in name "
        "order): only for frames of ONE video (extract's numbered frames), not curated or mixed photos.")] = False,
    smooth_strength: Annotated[float, typer.Option(
        "--smooth-strength", min=0.0, max=1.0, help="0..1: higher = steadier, lags more in fast motion.")] = 0.5,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a non-empty aligned/ (moved to aligned_backup_<timestamp>/ first).")] = False,
    redo_deleted_debug: Annotated[bool, typer.Option(
        "--redo-deleted-debug", help="Re-detect only frames whose aligned_debug image you deleted (lower "
        "threshold, then the other backend), replacing their faces.")] = False,
) -> None:
    from neuface.detect.pipeline import DetectConfig, run_detect

    st = app_state(ctx)
    cfg = DetectConfig(backend=backend, landmarks=landmarks, face_type=face_type, size=size, jpeg_quality=jpeg_quality,
                       max_faces=max_faces, min_face_size=min_face_size, debug=debug, identity=identity,
                       models_dir=models, device=st.device, workers=workers, batch_size=batch_size,
                       smooth=smooth, smooth_strength=smooth_strength)
    run_detect(st.workspace, side, cfg, force=force, redo_deleted_debug=redo_deleted_debug)
