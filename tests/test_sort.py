"""`neuface sort`: every method's order on real aligned faces, checked against metrics computed here.

The faceset: DFL's own fixture faces plus dlib "johns" chips made into DFL aligned JPEGs through the
faceset API (landmarks from dlib's predictor), named `<frame>_<idx>.jpg` like the extractor's output, and
one non-DFL image (DFL trashes such files for metadata-based methods).
"""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.dfl.landmarks import estimate_pitch_yaw_roll, get_image_hull_mask
from neuface.faceset.dfljpg import read_meta, write_aligned_jpeg
from neuface.faceset.meta import FaceMeta
from neuface.sort.methods import METHODS, get_method

JOHNS = ("John_Salley", "John_Savage", "John_Schneider", "John_Shimkus", "John_Simm")
CHIP_SIZE = 256
DFL_NAMES = {"t1_0.jpg": "00007_0.jpg", "t1_1.jpg": "00007_1.jpg", "t1_2.jpg": "00007_2.jpg",
             "t1_3.jpg": "00007_3.jpg", "Tom_Hanks_54745_0.jpg": "00003_0.jpg"}
NON_DFL = "99999.png"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_face(chip_path: Path, out: Path, frame: str, rect_scale: float, backend, embed: bool = False) -> None:
    """A DFL aligned JPEG from a 150 px dlib chip: upscaled, dlib landmarks, plausible source metadata."""
    img = cv2.resize(cv2.imread(str(chip_path)), (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_LINEAR)
    faces = backend.detect(img)
    assert faces, chip_path
    face = faces[0]
    l, t, r, b = face.rect * rect_scale
    meta = FaceMeta(face_type="whole_face", landmarks=face.landmarks.astype(np.float32), source_filename=frame,
                    source_rect=np.array([l, t, r, b]).round().astype(np.int64),
                    source_landmarks=face.landmarks * rect_scale,
                    image_to_face_mat=np.array([[1 / rect_scale, 0, 0], [0, 1 / rect_scale, 0]]))
    if embed:
        meta.extra["neuface_identity"] = face.embedding
    write_aligned_jpeg(out, img, meta)


@pytest.fixture(scope="session", name="face_template")
def _face_template(tmp_path_factory, dfl_fixtures: Path, real_media: Path) -> dict[str, Path]:
    """Two aligned folders built once: `mixed` (sizes 150-512, a non-DFL file) and `johns` (one size)."""
    from neuface.detect.backends.dlib_backend import DlibBackend

    backend = DlibBackend()
    root = tmp_path_factory.mktemp("sort_faces")
    mixed, johns = root / "mixed", root / "johns"
    mixed.mkdir()
    johns.mkdir()
    for src, dst in DFL_NAMES.items():
        shutil.copyfile(dfl_fixtures / "aligned" / src, mixed / dst)
    rng = random.Random(7)
    frames = list(range(10, 40))
    rng.shuffle(frames)
    k = 0
    for person in JOHNS:
        chips = sorted((real_media / "identities" / "johns" / person).glob("*.jpg"))
        for chip in chips[:3]:
            frame = frames[k]
            # Two johns faces share frame 20 (a multi-face frame for `oneface`).
            name = f"{frame:05d}_0.jpg" if k != 4 else "00020_1.jpg"
            if k == 3:
                name = "00020_0.jpg"
            make_face(chip, mixed / name, f"frame{frame:03d}.png", 1.0 + 0.37 * k, backend)
            shutil.copyfile(mixed / name, johns / name)
            k += 1
    shutil.copyfile(real_media / "no_faces" / "1.png", mixed / NON_DFL)
    # The identity set: 10 faces of one person and 1 of another (half with stored embeddings).
    ident = root / "identity"
    ident.mkdir()
    salley = sorted((real_media / "identities" / "johns" / "John_Salley").glob("*.jpg"))[:10]
    for i, chip in enumerate(salley):
        make_face(chip, ident / f"{i:05d}_0.jpg", f"{i:05d}.png", 1.0, backend, embed=i % 2 == 0)
    simm = sorted((real_media / "identities" / "johns" / "John_Simm").glob("*.jpg"))[0]
    make_face(simm, ident / "00004_1.jpg", "00004.png", 1.0, backend)
    return {"mixed": mixed, "johns": johns, "identity": ident}


def workspace_with(tmp_path: Path, folder: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(folder, ws / "data_src" / "aligned")
    return ws


def run_sort(ws: Path, *args: str) -> int:
    return main(["-q", "-w", str(ws), "sort", "src", "--jobs", "1", *args])


def result_order(ws: Path, before: dict[str, str]) -> tuple[list[str], list[str]]:
    """(original names in their new order, original names now in the trash)."""
    by_hash = {h: n for n, h in before.items()}
    aligned = ws / "data_src" / "aligned"
    kept = sorted(p for p in aligned.iterdir() if p.is_file())
    assert [p.name for p in kept] == [f"{i:05d}{p.suffix}" for i, p in enumerate(kept)]
    trash_dir = ws / "data_src" / "aligned_trash"
    trashed = sorted(p for p in trash_dir.iterdir()) if trash_dir.exists() else []
    return [by_hash[sha(p)] for p in kept], sorted(by_hash[sha(p)] for p in trashed)


def sort_and_read(tmp_path: Path, folder: Path, *args: str) -> tuple[list[str], list[str]]:
    ws = workspace_with(tmp_path, folder)
    aligned = ws / "data_src" / "aligned"
    before = {p.name: sha(p) for p in aligned.iterdir()}
    assert run_sort(ws, *args) == 0
    return result_order(ws, before)


def dfl_order(folder: Path, metric, descending: bool, dfl_only: bool) -> tuple[list[str], list[str]]:
    """DFL's order: stable sort on the metric over the sorted file list; non-DFL files trashed if asked."""
    names = sorted(p.name for p in folder.iterdir())
    keep, trash = [], []
    for n in names:
        (trash if dfl_only and n == NON_DFL else keep).append(n)
    return sorted(keep, key=lambda n: metric(folder / n), reverse=descending), sorted(trash)


def _image(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def _masked(path: Path) -> np.ndarray:
    img = _image(path)
    return (img * get_image_hull_mask(img.shape, read_meta(path).landmarks)).astype(np.uint8)


def test_method_registry_has_dfl_numbers_and_names():
    assert [m.number for m in METHODS] == list(range(16))
    assert [m.key for m in METHODS][:15] == [
        "blur", "motion-blur", "face-yaw", "face-pitch", "face-source-rect-size", "hist", "hist-dissim",
        "brightness", "hue", "black", "origname", "oneface", "absdiff", "final", "final-fast"]
    assert get_method("13").key == "final" and get_method("motion_blur").key == "motion-blur"
    assert get_method("final-by-blur").key == "final"  # DFL's broken --by spelling works here


@pytest.mark.parametrize("method,channel", [("brightness", 2), ("hue", 0)])
def test_hsv_methods_follow_dfl_order(tmp_path, face_template, method, channel):
    folder = face_template["mixed"]

    def mean_hsv(p: Path) -> float:
        return float(np.mean(cv2.cvtColor(_image(p), cv2.COLOR_BGR2HSV)[..., channel]))

    assert sort_and_read(tmp_path, folder, "--by", method) == dfl_order(folder, mean_hsv, True, False)


def test_black_counts_zero_channel_elements_fewest_first(tmp_path, face_template):
    folder = face_template["mixed"]
    expected = dfl_order(folder, lambda p: int(np.count_nonzero(_image(p) == 0)), False, False)
    assert sort_and_read(tmp_path, folder, "--by", "9") == expected


def test_source_rect_size_and_origname(tmp_path, face_template):
    folder = face_template["mixed"]

    def area(p: Path) -> float:
        l, t, r, b = (float(v) for v in read_meta(p).source_rect)
        return abs((r - l) * (b - t))

    assert sort_and_read(tmp_path / "a", folder, "--by", "face-source-rect-size") == dfl_order(folder, area, True, True)
    by_name = dfl_order(folder, lambda p: read_meta(p).source_filename, False, True)
    assert sort_and_read(tmp_path / "b", folder, "--by", "origname") == by_name
    # after another sort renamed everything to 00000.jpg..., origname still restores frame order (faces of
    # one frame keep their current relative order, as in DFL: the face index is not in the metadata)
    ws = workspace_with(tmp_path / "c", folder)
    before = {p.name: sha(p) for p in (ws / "data_src" / "aligned").iterdir()}
    assert run_sort(ws, "--by", "hue") == 0 and run_sort(ws, "--by", "origname") == 0
    kept, trash = result_order(ws, before)
    frame_of = {n: read_meta(folder / n).source_filename for n in by_name[0]}
    assert [frame_of[n] for n in kept] == [frame_of[n] for n in by_name[0]] and trash == by_name[1]
    assert sorted(kept) == sorted(by_name[0]) and kept != by_name[0]  # hue left t1's faces in another order


@pytest.mark.parametrize("method,index", [("face-yaw", 1), ("face-pitch", 0)])
def test_pose_methods(tmp_path, face_template, method, index):
    folder = face_template["mixed"]

    def pose(p: Path) -> float:
        return estimate_pitch_yaw_roll(read_meta(p).landmarks, size=_image(p).shape[1])[index]

    assert sort_and_read(tmp_path, folder, "--by", method) == dfl_order(folder, pose, True, True)


def test_motion_blur_is_laplacian_variance_of_masked_face(tmp_path, face_template):
    folder = face_template["mixed"]
    expected = dfl_order(folder, lambda p: cv2.Laplacian(_masked(p), cv2.CV_64F, ksize=11).var(), True, True)
    assert sort_and_read(tmp_path, folder, "--by", "motion-blur") == expected


def test_blur_puts_a_blurred_copy_after_its_original(tmp_path, face_template):
    folder = tmp_path / "blurset"
    shutil.copytree(face_template["johns"], folder)
    src = sorted(folder.iterdir())[0]
    meta = read_meta(src)
    write_aligned_jpeg(folder / "00099_0.jpg", cv2.GaussianBlur(_image(src), (0, 0), 3), meta)
    kept, trash = sort_and_read(tmp_path, folder, "--by", "blur")
    assert trash == [] and kept.index(src.name) < kept.index("00099_0.jpg")
    assert kept[-1] == "00099_0.jpg"


def _bhatt(a: np.ndarray, b: np.ndarray) -> float:
    return cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA)


def test_hist_is_dfls_greedy_chain(tmp_path, face_template):
    folder = face_template["mixed"]
    names = sorted(p.name for p in folder.iterdir())
    hists = {n: [cv2.calcHist([_image(folder / n)], [c], None, [256], [0, 256]) for c in range(3)] for n in names}
    chain = list(names)
    for i in range(len(chain) - 1):
        best, j_best = float("inf"), i + 1
        for j in range(i + 1, len(chain)):
            score = sum(_bhatt(hists[chain[i]][c], hists[chain[j]][c]) for c in range(3))
            if score < best:
                best, j_best = score, j
        chain[i + 1], chain[j_best] = chain[j_best], chain[i + 1]
    assert sort_and_read(tmp_path, folder, "--by", "hist") == (chain, [])


def test_hist_dissim_sums_distances_of_masked_grey(tmp_path, face_template):
    folder = face_template["mixed"]
    names = sorted(p.name for p in folder.iterdir())

    def grey_hist(n: str):
        img = _image(folder / n) if n == NON_DFL else _masked(folder / n)
        return cv2.calcHist([cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)], [0], None, [256], [0, 256])

    h = {n: grey_hist(n) for n in names}
    score = {n: sum(_bhatt(h[n], h[m]) for m in names if m != n) for n in names}
    expected = sorted(names, key=lambda n: score[n], reverse=True)
    assert sort_and_read(tmp_path, folder, "--by", "hist-dissim") == (expected, [])


def test_oneface_trashes_every_face_of_multi_face_frames(tmp_path, face_template):
    folder = face_template["mixed"]
    kept, trash = sort_and_read(tmp_path, folder, "--by", "oneface")
    multi = sorted([*[n for n in DFL_NAMES.values() if n.startswith("00007_")], "00020_0.jpg", "00020_1.jpg"])
    assert trash == multi
    assert kept == [n for n in sorted(p.name for p in folder.iterdir()) if n not in multi]


@pytest.mark.parametrize("similar", [True, False])
def test_absdiff_chain(tmp_path, face_template, similar):
    folder = face_template["johns"]
    names = sorted(p.name for p in folder.iterdir())
    imgs = [_image(folder / n).astype(np.int64) for n in names]
    order, used = [0], {0}
    while len(order) < len(names):
        cur = order[-1]
        cands = [(int(np.abs(imgs[cur] - imgs[j]).sum()), j) for j in range(len(names)) if j not in used]
        d = min(c[0] for c in cands) if similar else max(c[0] for c in cands)
        nxt = min(j for dist, j in cands if dist == d)
        order.append(nxt)
        used.add(nxt)
    args = ["--by", "absdiff"] + ([] if similar else ["--dissimilar"])
    assert sort_and_read(tmp_path, folder, *args) == ([names[i] for i in order], [])


def _final_inputs(folder: Path, method: str) -> dict[str, tuple[float, float, np.ndarray]]:
    """{name: (yaw, sharpness or rect area, grey histogram)} for the DFL faces, computed as DFL does."""
    from neuface.sort.cpbd import estimate_sharpness

    out = {}
    for n in sorted(p.name for p in folder.iterdir()):
        if n == NON_DFL:
            continue
        p = folder / n
        meta = read_meta(p)
        img = _image(p)
        pitch, yaw, _ = estimate_pitch_yaw_roll(meta.landmarks, size=img.shape[1])
        if method == "final":
            sharp = estimate_sharpness(_masked(p))
        else:
            l, t, r, b = (float(v) for v in meta.source_rect)
            sharp = abs((r - l) * (b - t))
        hist = cv2.calcHist([cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)], [0], None, [256], [0, 256])
        out[n] = (float(yaw), sharp, hist)
    return out


def _pick_one(members: list[str], info: dict[str, tuple[float, float, np.ndarray]]) -> str:
    """DFL's pick for a yaw bin with one face to keep: of the 10 sharpest, the most dissimilar histogram."""
    top = sorted(members, key=lambda n: info[n][1], reverse=True)[:10]
    dis = {n: sum(_bhatt(info[n][2], info[m][2]) for m in top if m != n) for n in top}
    return sorted(top, key=lambda n: dis[n], reverse=True)[0]


@pytest.mark.parametrize("method", ["final", "final-fast"])
def test_best_faces_one_per_yaw_bin(tmp_path, face_template, method):
    """--target 128 (DFL's rule from 128 on): one face per yaw bin, the most dissimilar of the bin's 10 sharpest."""
    folder = face_template["mixed"]
    info = _final_inputs(folder, method)
    edges = np.linspace(-1.2, 1.2, 128)
    bins: dict[int, list[str]] = {}
    for n, (yaw, _, _) in info.items():
        g = int(np.clip(np.searchsorted(edges, -yaw, side="right") - 1, 0, 127))
        bins.setdefault(g, []).append(n)
    expected = [_pick_one(bins[g], info) for g in sorted(bins)]
    kept, trash = sort_and_read(tmp_path, folder, "--by", method, "--target", "128")
    assert kept == expected
    assert trash == sorted((set(info) | {NON_DFL}) - set(expected))


@pytest.mark.parametrize(("method", "target"), [("final", 5), ("final-fast", 1), ("final", 1000 // 9)])
def test_best_faces_small_target_keeps_that_many_spread_over_yaw(tmp_path, face_template, method, target):
    """Below 128 (where DFL's round(target/128) per bin keeps nothing or too many): `target` equal-count groups
    of neighbouring yaws, one face from each by DFL's one-per-bin rule; more than the faces keeps them all."""
    folder = face_template["mixed"]
    info = _final_inputs(folder, method)
    by_yaw = sorted(info, key=lambda n: -info[n][0])  # DFL bins on -yaw; file order on ties
    k = min(target, len(by_yaw))
    size, extra = divmod(len(by_yaw), k)  # the first `extra` groups hold one more (numpy.array_split's split)
    bounds = [g * size + min(g, extra) for g in range(k + 1)]
    expected = [_pick_one(by_yaw[bounds[g]:bounds[g + 1]], info) for g in range(k)]
    kept, trash = sort_and_read(tmp_path, folder, "--by", method, "--target", str(target))
    assert kept == expected and len(kept) == k
    assert trash == sorted((set(info) | {NON_DFL}) - set(expected))
    yaws = [-info[n][0] for n in kept]
    assert yaws == sorted(yaws)  # one face per group, in yaw order


def test_best_faces_default_target_keeps_a_small_set(tmp_path, face_template):
    kept, trash = sort_and_read(tmp_path, face_template["mixed"], "--by", "final-fast")
    assert trash == [NON_DFL] and len(kept) == len(list(face_template["mixed"].iterdir())) - 1


def test_identity_puts_the_stranger_last(tmp_path, face_template):
    kept, trash = sort_and_read(tmp_path, face_template["identity"], "--by", "identity")
    assert trash == [] and len(kept) == 11
    assert kept[-1] == "00004_1.jpg"


def test_identity_computes_missing_vectors_as_detect_does(face_template):
    """A face without a stored vector gets detect's own `compute_identity_embedding` vector."""
    from neuface.detect.identity import IDENTITY_KEY, compute_identity_embedding
    from neuface.sort.faces import Face
    from neuface.sort.identity import face_embedding

    folder = face_template["identity"]
    stored = Face(folder / "00000_0.jpg")  # even index: written with its embedding
    missing = Face(folder / "00001_0.jpg")
    assert IDENTITY_KEY in stored.meta.extra and IDENTITY_KEY not in missing.meta.extra
    vec = face_embedding(missing)
    assert vec.dtype == np.float32 and vec.shape == (128,)
    np.testing.assert_array_equal(vec, compute_identity_embedding(missing.image, missing.landmarks))
    np.testing.assert_array_equal(face_embedding(stored), stored.meta.extra[IDENTITY_KEY])
    # the stored vector came from the frame (before JPEG): the recomputed one agrees closely
    assert float(face_embedding(stored) @ compute_identity_embedding(stored.image, stored.landmarks)) > 0.97


def test_parallel_metrics_equal_one_process(face_template):
    from neuface.sort.faces import list_images
    from neuface.sort.parallel import measure_all

    paths = list_images(face_template["mixed"]) * 2
    one = measure_all("blur", paths, jobs=1)
    two = measure_all("blur", paths, jobs=2, pool_worth_seconds=0)  # always start the pool
    assert one == two and len(one) == len(paths) and len(set(one)) > 10


def test_absdiff_matrix_on_processes_is_exact(tmp_path, face_template):
    from neuface.sort.absdiff import distance_matrix, load_stack
    from neuface.sort.faces import list_images

    paths = list_images(face_template["johns"])
    stack_file = tmp_path / "faces.npy"
    load_stack(paths, stack_file, jobs=2)
    imgs = np.load(stack_file).astype(np.int64)
    expected = np.abs(imgs[:, None] - imgs[None, :]).sum(axis=(2, 3, 4))
    np.testing.assert_array_equal(distance_matrix(stack_file, len(paths), jobs=2, pool_worth_seconds=0), expected)
    np.testing.assert_array_equal(distance_matrix(stack_file, len(paths), jobs=1), expected)
