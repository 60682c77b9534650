"""`neuface demo`: the whole pipeline on media that ships inside scikit-image, offline, in about two minutes.

What it uses: scikit-image's `astronaut.png`, NASA's portrait of astronaut Eileen Collins (public domain).
It is the only frontal public-domain face in neuface's dependencies: scikit-image's other photo of a person,
`camera.png` (CC0), shows a man in three-quarter profile behind a camcorder, which dlib's frontal detector
finds in almost no frame. So both clips come from the one portrait, filmed by two different virtual cameras:
src pans and zooms in under warm light; dst is the mirrored portrait, desaturated and cool, zooming out
as its light dims, with a stronger roll. Each is a 2.5 s, 12 fps H.264 clip.

The demo then runs `neuface run` with tiny settings (64 px whole_face, the smallest SAEHD dims, a few
dozen iterations) written to the demo's own neuface.toml, checks the `.dfm` the way `neuface export
--check` does, and draws the swap it performs. Running it again skips every finished step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_write_text
from neuface.errors import NeufaceError, UsageError
from neuface.pipeline.clips import CameraPath, make_clip
from neuface.pipeline.runner import RunRequest, RunResult, run_pipeline
from neuface.workspace import Side, Workspace

MARKER = "DEMO_MEDIA.txt"
PREVIEW_NAME = "swap_preview.png"
DEMO_TARGET_ITER = 60

# Where the camera looks (astronaut.png pixels; the face is around x 180-265, y 85-170) and how.
CAMERAS = {
    Side.src: CameraPath(center=((212, 140), (230, 118)), zoom=(1.15, 1.45), roll_deg=7, gain=(0.85, 1.1),
                         light_swing=0.3, warmth=(0.08, -0.02)),
    Side.dst: CameraPath(center=((300, 135), (280, 122)), zoom=(1.4, 1.15), roll_deg=-9, gain=(1.05, 0.75),
                         light_swing=0.35, warmth=(-0.1, 0.05), saturation=0.55, mirror=True),
}

SOURCES = """\
Media of this neuface demo workspace
====================================

data_src.mp4 and data_dst.mp4 were made by `neuface demo` from scikit-image's data file astronaut.png:
"Photograph of Eileen Collins, an American astronaut ... downloaded from the NASA Great Images database.
No known copyright restrictions, released into the public domain." (skimage.data.astronaut)

src: a virtual camera panning and zooming in under warm light; dst: the mirrored, desaturated portrait,
zooming out with a dimming, cooler light and a stronger roll. The .dfm made here is synthetic media of
a real person: use it to see the pipeline work, not to impersonate anyone.
"""

CONFIG = """\
# Written by `neuface demo`: tiny settings so the whole pipeline finishes in about two minutes on a
# 2-core CPU. Edit and run `neuface -w <this folder> run` to go on: finished steps are skipped.

[extract]
fps = 0             # keep every frame of the 2.5 s clips (30 each)

[detect]
size = 128          # aligned whole_face crops of 128 px (DFL's default is 512)

[train]
name = "demo"
resolution = 64
face-type = "wf"    # whole_face: what DeepFaceLive frames
archi = "liae-ud"
ae-dims = 32        # the smallest dims SAEHD accepts (DFL's defaults: 256 / 64 / 64 / 22)
e-dims = 16
d-dims = 16
d-mask-dims = 16
batch-size = 4
target-iter = {target_iter}
seed = 0
consent = "neuface demo: public-domain NASA portrait of Eileen Collins (scikit-image astronaut.png)"
"""


@dataclass
class DemoResult:
    workspace: Workspace
    run: RunResult
    dfm: Path
    preview: Path
    check_lines: list[str]
    seconds: float


def astronaut_bgr() -> np.ndarray:
    """scikit-image's public-domain NASA portrait, BGR uint8 (read from the installed package, offline)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., ::-1])


def prepare_workspace(out: Path, target_iter: int = DEMO_TARGET_ITER) -> Workspace:
    """Create (or reuse) the demo workspace: media notes, config and the two clips; never touch other folders.

    A new workspace's neuface.toml trains to `target_iter`; an existing one keeps its config (maybe edited).
    """
    marker = out / MARKER
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        raise UsageError(f"--out {out}: folder exists and is not a neuface demo workspace (no {MARKER}); "
                         "choose another --out")
    ws = Workspace.at(out)
    out.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        atomic_write_text(marker, SOURCES)
    if not ws.config_file.is_file():
        atomic_write_text(ws.config_file, CONFIG.format(target_iter=int(target_iter)))
    still = None
    for side, camera in CAMERAS.items():
        video = out / f"data_{side.value}.mp4"
        if not video.is_file():
            still = astronaut_bgr() if still is None else still
            make_clip(still, camera, video)
    return ws


def exported_dfm(ws: Workspace) -> Path:
    """The `.dfm` the last successful export step wrote (this run or an earlier one)."""
    from neuface.pipeline.state import RunState

    stamp = RunState.load(ws.root).get("export")
    dfm = ws.root / stamp.options.get("out", "") if stamp is not None else None  # relative, or absolute outside
    if dfm is None or not dfm.is_file():
        raise NeufaceError(f"{ws.root}: the run finished without a .dfm; run `neuface -w {ws.root} run --from export`")
    return dfm


def verify_dfm(dfm: Path, faces: list[np.ndarray]) -> list[str]:
    """`neuface export --check` on the file, plus the demo's own promise: a whole_face model."""
    from neuface.export.check import check_dfm, format_report

    report = check_dfm(dfm, probe_images=faces or None)
    lines = format_report(report)
    if not report.ok:
        raise NeufaceError(f"{dfm}: the .dfm check failed: " + "; ".join(f.message for f in report.failures))
    if report.metadata.get("face_type") != "wf":
        raise NeufaceError(f"{dfm}: face_type is {report.metadata.get('face_type')!r}, expected 'wf' (whole_face)")
    return lines


def run_demo(out: Path, device: str = "auto", precision: str = "auto", target_iter: int | None = None) -> DemoResult:
    """Build the demo workspace in `out`, run the pipeline, verify the `.dfm` and draw the swap."""
    from neuface.config import load_config
    from neuface.pipeline.preview import spread_faces, swap_preview

    t0 = time.perf_counter()
    ws = prepare_workspace(Path(out), target_iter or DEMO_TARGET_ITER)
    req = RunRequest(config=load_config(ws.config_file), config_path=ws.config_file, target_iter=target_iter,
                     device=device, precision=precision)
    result = run_pipeline(ws, req)
    dfm = exported_dfm(ws)
    faces = spread_faces(ws, limit=4)
    lines = verify_dfm(dfm, faces)
    preview = swap_preview(dfm, faces, ws.root / PREVIEW_NAME, caption=f"{dfm.name} in onnxruntime")
    return DemoResult(ws, result, dfm, preview, lines, time.perf_counter() - t0)
