"""`neuface merge`: apply a model to a dst video and encode the result (DFL's merger + video script)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.detect.backends.registry import help_text as backend_help

COMMAND_SETTINGS = {
    "help": "Apply a model (.dfm or SAEHD model folder) to a dst video: swapped video with the dst's frame rate "
            "and audio, PNG frames (--frames-dir) or a before/after preview (--preview N). Marks the output as "
            "synthetic media (metadata, and a visible label unless --no-label).",
}


def command(
    ctx: typer.Context,
    video: Annotated[Path | None, typer.Argument(
        help="The dst video. Default: the workspace's data_dst.* video.")] = None,
    dfm: Annotated[Path | None, typer.Option("--dfm", metavar="FILE.dfm", help="A DeepFaceLive .dfm model.")] = None,
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir",
        help="SAEHD model folder. Default: <workspace>/model (its SAEHD model, else its only .dfm).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name when the folder holds several.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output video (.mp4/.mov/.mkv/.webm/.avi). Default: <workspace>/result.mp4 "
                            "unless only --frames-dir is given.")] = None,
    frames_dir: Annotated[Path | None, typer.Option(
        "--frames-dir", help="Also (or only) write merged frames as 00001.png ... into this folder.")] = None,
    preview: Annotated[int, typer.Option(
        "--preview", metavar="N", min=0,
        help="Only merge N evenly spaced frames and write them before|after as one PNG (<out stem>_preview.png).")] = 0,
    preview_file: Annotated[Path | None, typer.Option("--preview-file", help="Where --preview writes.")] = None,
    mode: Annotated[str, typer.Option(
        "--mode", help="overlay | hist-match | seamless | seamless-hist-match | raw-rgb | raw-predict (the model's "
                           "square itself, not pasted) | original.")] = "overlay",
    mask_mode: Annotated[str, typer.Option(
        "--mask-mode", help="DFL's mask mode (name or 0..9), e.g. learned-prd*learned-dst, dst, full, xseg-dst, "
                            "learned-prd*learned-dst*xseg-prd*xseg-dst; 'stored' = the dst faces' stored XSeg "
                            "masks.")] = "learned-prd*learned-dst",
    erode: Annotated[int, typer.Option("--erode", help="Erode (>0) or dilate (<0) the mask, -400..400.")] = 0,
    blur: Annotated[int, typer.Option("--blur", help="Blur the mask edge, 0..400.")] = 0,
    color_transfer: Annotated[str, typer.Option(
        "--color-transfer", help="none | rct | lct | mkl | mkl-m | idt | idt-m | sot-m | mix-m.")] = "rct",
    face_scale: Annotated[int, typer.Option("--face-scale", help="Scale the pasted face, -50..50 %.")] = 0,
    motion_blur: Annotated[int, typer.Option(
        "--motion-blur", help="Blur a moving face along its motion (frame to frame), 0..100; frames with one "
                              "face.")] = 0,
    sharpen: Annotated[int, typer.Option("--sharpen", help="Sharpen (>0) or blur (<0) the face, -100..100.")] = 0,
    sharpen_mode: Annotated[str, typer.Option("--sharpen-mode", help="How --sharpen sharpens: gaussian | box.")
                            ] = "gaussian",
    denoise: Annotated[int, typer.Option("--denoise", help="Median-filter the face, 0..500 (100 per 5x5 pass).")] = 0,
    bicubic_degrade: Annotated[int, typer.Option(
        "--bicubic-degrade", help="Soften the face to match a low-resolution video, 0..100.")] = 0,
    color_degrade: Annotated[int, typer.Option(
        "--color-degrade", help="Blend the face toward 256 colours to match a compressed video, 0..100.")] = 0,
    hist_match_threshold: Annotated[int, typer.Option(
        "--hist-match-threshold", help="hist-match modes: 0..255 (lower keeps highlights down).")] = 255,
    label: Annotated[bool, typer.Option(
        "--label/--no-label", help="Visible 'AI-generated' corner label (metadata is written either way).")] = True,
    faces: Annotated[str, typer.Option(
        "--faces", help="auto (stored alignments when every frame was extracted, else detect) | stored | detect.")
    ] = "auto",
    backend: Annotated[str, typer.Option("--backend", help="Detector for on-the-fly faces: " + backend_help())
                       ] = "auto",
    max_faces: Annotated[int, typer.Option("--max-faces", min=0, help="Detected faces per frame, largest first "
                                                                       "(0 = all).")] = 0,
    smooth: Annotated[bool, typer.Option(
        "--smooth/--no-smooth", help="Steady the faces over time (One-Euro filter on each face track's landmarks): "
                                     "no trembling face on a still head. --no-smooth = DFL's merger.")] = True,
    smooth_strength: Annotated[float, typer.Option(
        "--smooth-strength", min=0.0, max=1.0,
        help="0..1: higher = steadier but lags more in fast motion (0 = off).")] = 0.5,
    face_type: Annotated[str | None, typer.Option(
        "--face-type", help="A .dfm's face type when its metadata lacks it: h|mf|f|wf|head (default wf).")] = None,
    morph_factor: Annotated[float, typer.Option("--morph-factor", help="AMP .dfm morph value, 0..1.")] = 1.0,
    xseg_dir: Annotated[Path | None, typer.Option(
        "--xseg-dir", help="XSeg model for xseg-* mask modes. Default: the model folder.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Frames per model batch.")] = 8,
    crf: Annotated[int, typer.Option("--crf", min=0, max=51, help="Video quality (lower = better, larger).")] = 18,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
) -> None:
    from neuface.merge.options import MergeOptions
    from neuface.merge.pipeline import MergeConfig, run_merge

    st = app_state(ctx)
    options = MergeOptions(mode=mode, mask_mode=mask_mode, erode=erode, blur=blur, color_transfer=color_transfer,
                           face_scale=face_scale, motion_blur=motion_blur, sharpen=sharpen,
                           sharpen_mode=sharpen_mode, denoise=denoise, bicubic_degrade=bicubic_degrade,
                           color_degrade=color_degrade,
                           hist_match_threshold=hist_match_threshold, label=label)
    run_merge(st.workspace, MergeConfig(
        video=video, out=out, frames_dir=frames_dir, preview=preview, preview_file=preview_file, force=force,
        dfm=dfm, model_dir=model_dir, name=name, face_type=face_type, morph_factor=morph_factor, options=options,
        faces=faces, backend=backend, max_faces=max_faces, xseg_dir=xseg_dir, batch_size=batch_size, crf=crf,
        device=st.device, precision=st.precision, smooth=smooth, smooth_strength=smooth_strength))
