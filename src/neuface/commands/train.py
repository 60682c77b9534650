"""`neuface train`: train the SAEHD (or XSeg) model (DFL 5_train): `neuface train --backup-every N`.

Every SAEHD option is a flag (and a key of `[train]` in neuface.toml). Options left unset keep the model's
stored value (an existing model) or DFL's default (a new one), so a flag always means "change this".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

COMMAND_SETTINGS = {
    "help": "Train the SAEHD (or XSeg) model (DFL 5_train). Saves every --save-every-min minutes, at backups, "
            "at --target-iter and on Ctrl-C; resumes where it stopped.",
}

_ARCH = "Architecture (fixed once the model exists)"
_TRAIN = "Training options (can change between runs)"
_RUN = "Run control"
_XSEG = "XSeg (with --kind xseg)"

def Opt(*param_decls: str, help: str | None = None, **kwargs: Any) -> Any:  # noqa: A002, N802
    """typer.Option whose help is plain text: the help renders as rich markup, where `[default: 128]` is a tag
    and vanished."""
    return typer.Option(*param_decls, help=None if help is None else escape(help), **kwargs)


def command(
    ctx: typer.Context,
    kind: Annotated[str, Opt(help="What to train: saehd or xseg (XSeg uses --face-type, --batch-size, --pretrain, "
                                    "--seed, --target-iter and the XSeg options).", rich_help_panel=_RUN)] = "saehd",
    name: Annotated[str | None, Opt(help="Model name (DFL's <name>_SAEHD). Default: the most recently saved "
                                        "SAEHD model in workspace/model, else 'new'.", rich_help_panel=_RUN)] = None,
    archi: Annotated[str | None, Opt(help="df|liae[-udtc]. [default: liae-ud]", rich_help_panel=_ARCH)] = None,
    resolution: Annotated[int | None, Opt(help="Face resolution, 64..640 (multiple of 16, or 32 for -d). "
                                               "[default: 128]", rich_help_panel=_ARCH)] = None,
    face_type: Annotated[str | None, Opt(help="h|mf|f|wf|head or DFL's full names. [default: wf]",
                                         rich_help_panel=_ARCH)] = None,
    ae_dims: Annotated[int | None, Opt(help="[default: 256]", rich_help_panel=_ARCH)] = None,
    e_dims: Annotated[int | None, Opt(help="[default: 64]", rich_help_panel=_ARCH)] = None,
    d_dims: Annotated[int | None, Opt(help="[default: 64]", rich_help_panel=_ARCH)] = None,
    d_mask_dims: Annotated[int | None, Opt(help="[default: d_dims/3, even]", rich_help_panel=_ARCH)] = None,
    batch_size: Annotated[int | None, Opt(help="Global batch (split over GPUs). [default: 4 on CPU, else 8]",
                                          rich_help_panel=_TRAIN)] = None,
    masked_training: Annotated[bool | None, Opt("--masked-training/--no-masked-training",
                                                help="[default: on]", rich_help_panel=_TRAIN)] = None,
    eyes_mouth_prio: Annotated[bool | None, Opt("--eyes-mouth-prio/--no-eyes-mouth-prio",
                                                help="[default: off]", rich_help_panel=_TRAIN)] = None,
    uniform_yaw: Annotated[bool | None, Opt("--uniform-yaw/--no-uniform-yaw", help="[default: off]",
                                            rich_help_panel=_TRAIN)] = None,
    blur_out_mask: Annotated[bool | None, Opt("--blur-out-mask/--no-blur-out-mask", help="[default: off]",
                                              rich_help_panel=_TRAIN)] = None,
    random_warp: Annotated[bool | None, Opt("--random-warp/--no-random-warp", help="[default: on]",
                                            rich_help_panel=_TRAIN)] = None,
    random_src_flip: Annotated[bool | None, Opt("--random-src-flip/--no-random-src-flip", help="[default: off]",
                                                rich_help_panel=_TRAIN)] = None,
    random_dst_flip: Annotated[bool | None, Opt("--random-dst-flip/--no-random-dst-flip", help="[default: on]",
                                                rich_help_panel=_TRAIN)] = None,
    lr: Annotated[float | None, Opt(help="Learning rate. [default: 5e-05]", rich_help_panel=_TRAIN)] = None,
    lr_dropout: Annotated[str | None, Opt(help="n|y|cpu. [default: n]", rich_help_panel=_TRAIN)] = None,
    clipgrad: Annotated[bool | None, Opt("--clipgrad/--no-clipgrad", help="[default: off]",
                                         rich_help_panel=_TRAIN)] = None,
    gan_power: Annotated[float | None, Opt(help="0..5. [default: 0]", rich_help_panel=_TRAIN)] = None,
    gan_patch_size: Annotated[int | None, Opt(help="[default: resolution/8]", rich_help_panel=_TRAIN)] = None,
    gan_dims: Annotated[int | None, Opt(help="[default: 16]", rich_help_panel=_TRAIN)] = None,
    true_face_power: Annotated[float | None, Opt(help="df only, 0..1. [default: 0]", rich_help_panel=_TRAIN)] = None,
    face_style_power: Annotated[float | None, Opt(help="0..100. [default: 0]", rich_help_panel=_TRAIN)] = None,
    bg_style_power: Annotated[float | None, Opt(help="0..100. [default: 0]", rich_help_panel=_TRAIN)] = None,
    ct_mode: Annotated[str | None, Opt(help="none|rct|lct|mkl|idt|sot. [default: none]",
                                       rich_help_panel=_TRAIN)] = None,
    random_hsv_power: Annotated[float | None, Opt(help="0..0.3. [default: 0]", rich_help_panel=_TRAIN)] = None,
    adabelief: Annotated[bool | None, Opt("--adabelief/--no-adabelief", help="[default: on]",
                                          rich_help_panel=_TRAIN)] = None,
    pretrain: Annotated[bool | None, Opt("--pretrain/--no-pretrain", help="[default: off]",
                                         rich_help_panel=_TRAIN)] = None,
    write_preview_history: Annotated[bool | None, Opt("--write-preview-history/--no-write-preview-history",
                                                      help="[default: off]", rich_help_panel=_TRAIN)] = None,
    autobackup_hour: Annotated[int | None, Opt(help="Backup every N hours of training, 0 = off. [default: 0]",
                                               rich_help_panel=_TRAIN)] = None,
    seed: Annotated[int | None, Opt(help="Random seed of a new model (data order, init). [default: random]",
                                    rich_help_panel=_TRAIN)] = None,
    backup_every: Annotated[int, Opt(help="Backup + verified .dfm every N iterations (0 = off).",
                                     rich_help_panel=_RUN)] = 0,
    target_iter: Annotated[int | None, Opt(help="Save, export and stop at this iteration (0 = train until "
                                                "interrupted).", rich_help_panel=_RUN)] = None,
    save_every_min: Annotated[float, Opt(help="Save every M minutes.", rich_help_panel=_RUN)] = 25.0,
    preview_every_min: Annotated[float, Opt(help="Write preview images every M minutes.",
                                            rich_help_panel=_RUN)] = 5.0,
    consent: Annotated[str | None, Opt(help="Statement that the people in the facesets agreed; stored in the "
                                            "model and every .dfm.", rich_help_panel=_RUN)] = None,
    reset_iter: Annotated[bool, Opt("--reset-iter", help="Train a copy of a pretrained model ('NAME reset') "
                                                         "from iteration 0 for a new face; the original files "
                                                         "stay unchanged.",
                                    rich_help_panel=_RUN)] = False,
    pretrained: Annotated[Path | None, Opt(help="Start a new model for this face from a pretrained DFL SAEHD model: "
                                                "its folder or the zip you downloaded (read in place, never "
                                                "written). Its weights and architecture, iteration 0; a later run "
                                                "continues the new model.", show_default=False,
                                           rich_help_panel=_RUN)] = None,
    compile: Annotated[bool, Opt("--compile/--no-compile", help="torch.compile the networks (a minute or more "
                                                               "to start, faster steps on GPU; falls back to eager "
                                                               "when the toolchain is missing).",
                                 rich_help_panel=_RUN)] = False,
    workers: Annotated[int | None, Opt(help="Data loader processes. [default: by device]",
                                       rich_help_panel=_RUN)] = None,
    labels_from: Annotated[Path | None, Opt(help="--kind xseg: mask images named like the faces (white = face), "
                                                 "used as labels; the faces' files are not changed.",
                                            rich_help_panel=_XSEG)] = None,
    init_from: Annotated[Path | None, Opt(help="--kind xseg: fine-tune a new XSeg model from these weights (a "
                                               "folder with XSeg_256.npy, or GenericXSeg.zip).",
                                          rich_help_panel=_XSEG)] = None,
) -> None:
    from neuface.commands._context import app_state
    from neuface.errors import UsageError

    st = app_state(ctx)
    kind = kind.strip().lower()
    if pretrained is not None and kind != "saehd":
        raise UsageError("--pretrained is a SAEHD option (XSeg fine-tunes with --init-from)")
    if kind == "xseg":
        from neuface.console import warn
        from neuface.train.loop import run_xseg

        if compile:
            warn("--compile applies to SAEHD training; the XSeg trainer runs eagerly")
        run_xseg(st, target_iter=target_iter or 0, save_every_min=save_every_min,
                 preview_every_min=preview_every_min, batch_size=batch_size, face_type=face_type, seed=seed,
                 pretrain=pretrain, labels_from=labels_from, init_from=init_from)
        return
    if kind != "saehd":
        raise UsageError(f"--kind {kind!r}: choose saehd or xseg")
    if labels_from is not None or init_from is not None:
        raise UsageError("--labels-from and --init-from are XSeg options: add --kind xseg")

    from neuface.train.loop import TrainRun, train_saehd

    overrides = {
        "archi": archi, "resolution": resolution, "face_type": face_type, "ae_dims": ae_dims, "e_dims": e_dims,
        "d_dims": d_dims, "d_mask_dims": d_mask_dims, "batch_size": batch_size, "masked_training": masked_training,
        "eyes_mouth_prio": eyes_mouth_prio, "uniform_yaw": uniform_yaw, "blur_out_mask": blur_out_mask,
        "random_warp": random_warp, "random_src_flip": random_src_flip, "random_dst_flip": random_dst_flip,
        "lr_dropout": lr_dropout, "clipgrad": clipgrad, "gan_power": gan_power, "gan_patch_size": gan_patch_size,
        "gan_dims": gan_dims, "true_face_power": true_face_power, "face_style_power": face_style_power,
        "bg_style_power": bg_style_power, "ct_mode": ct_mode, "random_hsv_power": random_hsv_power,
        "adabelief": adabelief, "pretrain": pretrain, "write_preview_history": write_preview_history,
        "autobackup_hour": autobackup_hour, "target_iter": target_iter,
    }
    run = TrainRun(
        name=name, overrides={k: v for k, v in overrides.items() if v is not None}, lr=lr, seed=seed,
        backup_every=backup_every, save_every_min=save_every_min, preview_every_min=preview_every_min,
        consent=consent, reset_iter=reset_iter, pretrained=pretrained, compile=compile, workers=workers,
    )
    train_saehd(st.workspace, run, device=st.device, precision=st.precision)
