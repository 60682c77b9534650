"""`neuface demo`: the whole pipeline on two public-domain portraits that ship inside dependencies, offline.

The faces: src (the face the model learns) is Grace Hopper's official 1984 US Navy portrait, which ships in
matplotlib's wheel as sample data (`mpl-data/sample_data/grace_hopper.jpg`); dst (the footage) is NASA's
portrait of astronaut Eileen Collins, scikit-image's `astronaut.png`. Both are works of the US federal
government, so public domain. Nothing is downloaded. The other candidates do not fit: scikit-image's
`camera.png` (CC0) is a three-quarter profile behind a camcorder that dlib's frontal detector finds in almost
no frame, its `lfw_subset.npy` faces are 25x25 px crops of news photos (not public domain), and imageio's
standard images and `scipy.datasets` are downloaded on first use (scipy's `face` is a raccoon).

Each still is filmed by a virtual camera (`clips.CameraPath`: pan, zoom, roll, changing light) into a
2.5 s, 12 fps H.264 clip. The demo then runs `neuface run` with tiny settings (64 px whole_face, the
smallest SAEHD dims, a few dozen iterations) written to the demo's own neuface.toml, checks the `.dfm`
the way `neuface export --check` does, and draws the swap it performs. Running it again skips every
finished step.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_write_text
from neuface.errors import NeufaceError, UsageError
from neuface.pipeline.clips import CameraPath, make_clip
from neuface.pipeline.options import DEMO_TARGET_ITER
from neuface.pipeline.runner import RunRequest, RunResult, run_pipeline
from neuface.workspace import Side, Workspace

MARKER = "DEMO_MEDIA.txt"
PREVIEW_NAME = "swap_preview.png"


@dataclass(frozen=True)
class DemoFace:
    """A public-domain portrait shipped inside an installed package, and the virtual camera that films it."""

    person: str
    package: str  # import name of the package that ships the file
    resource: str  # the file, relative to the package folder
    credit: str
    camera: CameraPath

    def path(self) -> Path:
        """The file inside the installed package (found without importing the package: matplotlib is slow)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise NeufaceError(f"the demo's {self.person} portrait ships with the {self.package} package, which is "
                               f"not installed: `pip install {self.package}` (no download happens at run time)")
        path = Path(spec.origin).parent / self.resource
        if not path.is_file():
            raise NeufaceError(f"{path}: missing ({self.package} installed without its sample data?); "
                               f"reinstall it with `pip install --force-reinstall {self.package}`")
        return path

    def load_bgr(self) -> np.ndarray:
        """The portrait as BGR uint8."""
        import cv2

        path = self.path()
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise NeufaceError(f"{path}: cannot decode the demo portrait")
        return img


# Where each camera looks (still pixels; Hopper's face is around x 180-366, y 139-325 of 512x600, Collins's
# around x 180-265, y 85-170 of 512x512) and how: src zooms in under warm light, dst zooms out as a cooler
# light dims, with more roll. Faces end up ~100-140 px wide in the 256 px frames.
FACES = {
    Side.src: DemoFace(
        person="Grace Hopper", package="matplotlib", resource="mpl-data/sample_data/grace_hopper.jpg",
        credit="Commodore Grace M. Hopper, official US Navy portrait, 1984 (public domain: a work of the US "
               "federal government); shipped with matplotlib as mpl-data/sample_data/grace_hopper.jpg",
        camera=CameraPath(center=((262, 245), (280, 225)), zoom=(0.6, 0.75), roll_deg=7, gain=(0.85, 1.1),
                          light_swing=0.3, warmth=(0.08, -0.02))),
    Side.dst: DemoFace(
        person="Eileen Collins", package="skimage", resource="data/astronaut.png",
        credit="astronaut Eileen Collins, NASA portrait (public domain: \"No known copyright restrictions, "
               "released into the public domain\"); shipped with scikit-image as data/astronaut.png",
        camera=CameraPath(center=((205, 138), (225, 122)), zoom=(1.45, 1.15), roll_deg=-9, gain=(1.05, 0.75),
                          light_swing=0.35, warmth=(-0.1, 0.05))),
}

SOURCES = """\
Media of this neuface demo workspace
====================================

data_src.mp4 and data_dst.mp4 were made by `neuface demo` from two public-domain portraits that ship inside
installed Python packages (nothing was downloaded):

src (the face the model learns): {src}
dst (the footage): {dst}

Each clip is a virtual camera moving over the still (pan, zoom, roll) under changing light, 2.5 s at 12 fps.
The .dfm made here is synthetic media of real people: use it to see the pipeline work, not to impersonate
anyone.
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
consent = "neuface demo: public-domain portraits of Grace Hopper (US Navy) and Eileen Collins (NASA)"
"""


@dataclass
class DemoResult:
    workspace: Workspace
    run: RunResult
    dfm: Path
    preview: Path
    check_lines: list[str]
    seconds: float


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
        atomic_write_text(marker, SOURCES.format(src=FACES[Side.src].credit, dst=FACES[Side.dst].credit))
    if not ws.config_file.is_file():
        atomic_write_text(ws.config_file, CONFIG.format(target_iter=int(target_iter)))
    for side, face in FACES.items():
        video = out / f"data_{side.value}.mp4"
        if not video.is_file():
            make_clip(face.load_bgr(), face.camera, video)
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
