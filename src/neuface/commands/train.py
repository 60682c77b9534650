"""`neuface train`: train the SAEHD (or XSeg) model (DFL 5_train): `neuface train --backup-every N`.

Every SAEHD option is a flag (and a key of `[train]` in neuface.toml), declared once in
`neuface.train.options.TrainOptions`.
"""

from __future__ import annotations

import typer

from neuface.commands._options import options_command
from neuface.train.options import TrainOptions

HELP = ("Train the SAEHD (or XSeg) model (DFL 5_train). Saves every --save-every-min minutes, at backups, "
        "at --target-iter and on Ctrl-C; resumes where it stopped.")


@options_command(TrainOptions)
def command(ctx: typer.Context, opts: TrainOptions) -> None:
    from neuface.commands._context import app_state
    from neuface.errors import UsageError

    st = app_state(ctx)
    kind = opts.kind.strip().lower()
    if opts.pretrained is not None and kind != "saehd":
        raise UsageError("--pretrained is a SAEHD option (XSeg fine-tunes with --init-from)")
    if kind == "xseg":
        from neuface.console import warn
        from neuface.xseg.samples import workspace_facesets
        from neuface.xseg.train import train_xseg

        if opts.compile:
            warn("--compile applies to SAEHD training; the XSeg trainer runs eagerly")
        ws = st.workspace
        train_xseg(ws.model_dir, workspace_facesets(ws), target_iter=opts.target_iter or 0, face_type=opts.face_type,
                   batch_size=opts.batch_size or 4, init_from=opts.init_from, labels_from=opts.labels_from,
                   device=st.device, precision=st.precision, save_every_min=opts.save_every_min,
                   preview_every_min=opts.preview_every_min, pretrain=opts.pretrain, seed=opts.seed)
        return
    if kind != "saehd":
        raise UsageError(f"--kind {kind!r}: choose saehd or xseg")
    if opts.labels_from is not None or opts.init_from is not None:
        raise UsageError("--labels-from and --init-from are XSeg options: add --kind xseg")

    from neuface.export.dfm import export_dfm
    from neuface.train.saehd import train_saehd

    train_saehd(st.workspace, opts.train_run(), device=st.device, precision=st.precision, backup_dfm=export_dfm)
