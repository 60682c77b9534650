"""`neuface mask`'s options, declared once for the CLI, `[mask]` in neuface.toml and `neuface run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuface.dfl.facetype import DEFAULT_FACE_TYPE
from neuface.optionspec import StageOptions, option


@dataclass(frozen=True)
class MaskOptions(StageOptions):
    """Apply (or remove) XSeg masks on one faceset."""

    STAGE = "mask"

    model_dir: Path | None = option(None, flags="--model-dir", help="Folder with XSeg_256.npy (or a GenericXSeg.zip). "
                                                                    "Default: <workspace>/model.")
    remove: bool = option(False, flags="--remove", help="Delete stored XSeg masks instead of applying.")
    sheet: Path | None = option(None, flags="--sheet",
                                help="Also write a contact sheet (.png pages or .html) of every face with its mask.")
    xseg_face_type: str | None = option(None, flags="--xseg-face-type",
                                        help="Face type the XSeg model works on when it has no XSeg_data.dat: "
                                             f"h|mf|f|wf|head|same (default {DEFAULT_FACE_TYPE.short_name}; "
                                             "'same' = each face's own).")
    batch_size: int = option(8, flags="--batch-size", min=1, help="Faces per XSeg batch.")
