"""`neuface extract` on real videos: counts, sizes, --fps by timestamp, rotation, VFR, bad input, --force."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from neuface.atomic import owner_tag
from neuface.cli import main
from neuface.errors import UsageError, VideoError
from neuface.extract.formats import JPEG_QUALITY, ImageFormat
from neuface.extract.frames import extract_frames
from neuface.extract.sampling import TimestampSampler, expected_count
from neuface.extract.writer import FrameWriter
from neuface.workspace import Side, Workspace

TPSMM = "talking_head_tpsmm.mp4"  # 410x412, 25 fps, 169 frames, moov before mdat
D0 = "talking_head_d0.mp4"  # 512x512, 25 fps, 78 frames, moov at the end
AVI = "cgi_mpeg4_megamind.avi"  # MPEG-4 part 2 in AVI, 720x528, 270 frames


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.at(tmp_path / "ws")


def frames_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def leftovers(ws: Workspace) -> list[str]:
    """Staging / replaced folders that must never survive an extraction."""
    if not ws.root.exists():
        return []
    return [p.name for p in ws.root.iterdir() if p.name.startswith((".staging-", ".replaced-"))]


def decode_bgr(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        out = []
        for frame in c.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) == count:
                break
        return out


def duration_of(path: Path) -> Fraction:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return Fraction(s.duration) * s.time_base


def remux(src: Path, dst: Path, max_packets: int | None = None, rotation: int | None = None,
          hflip: bool = False, retime=None) -> Path:
    """Copy a video's packets into a new mp4 (no re-encoding), optionally cut, rotated or re-timed."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        if rotation is not None:
            ost.set_display_rotation(rotation, hflip=hflip)
        n = 0
        for p in inp.demux(ist):
            if p.dts is None:
                continue
            if max_packets is not None and n >= max_packets:
                break
            if retime is not None:
                p.pts, p.dts = retime(p.pts), retime(p.dts)
            p.stream = ost
            out.mux(p)
            n += 1
    return dst


# --- native rate, sizes, formats -------------------------------------------------------------------


def test_native_rate_every_frame_lossless(ws: Workspace, real_media: Path) -> None:
    video = real_media / TPSMM
    result = extract_frames(ws, Side.src, video)
    files = frames_in(ws.frames_dir(Side.src))
    assert result.count == len(files) == 169
    assert [f.name for f in files[:2]] == ["00001.png", "00002.png"] and files[-1].name == "00169.png"
    assert (result.width, result.height) == (410, 412)
    first, last = cv2.imread(str(files[0])), cv2.imread(str(files[-1]))
    assert first.shape == last.shape == (412, 410, 3)
    # PNG is lossless: the file holds exactly what the decoder produced.
    np.testing.assert_array_equal(first, decode_bgr(video, 1)[0])
    assert leftovers(ws) == []


@pytest.mark.parametrize(("name", "size"), [(TPSMM, (410, 412)), (AVI, (720, 528)), (D0, (512, 512))])
def test_fps_5_count_follows_duration(ws: Workspace, real_media: Path, name: str, size: tuple[int, int]) -> None:
    video = real_media / name
    result = extract_frames(ws, Side.dst, video, fps=5, fmt=ImageFormat.jpg)
    files = frames_in(ws.frames_dir(Side.dst))
    target = math.ceil(duration_of(video) * 5)
    assert abs(len(files) - target) <= 1 and result.count == len(files)
    assert all(f.suffix == ".jpg" for f in files)
    assert cv2.imread(str(files[-1])).shape == (size[1], size[0], 3)


def test_jpg_is_quality_95(ws: Workspace, real_media: Path) -> None:
    video = real_media / D0
    extract_frames(ws, Side.src, video, fps=1, fmt=ImageFormat.jpg)
    first = frames_in(ws.frames_dir(Side.src))[0]
    expected = cv2.imencode(".jpg", decode_bgr(video, 1)[0], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
    assert first.read_bytes() == expected.tobytes()


def test_fps_picks_frame_at_or_after_each_step(ws: Workspace, real_media: Path) -> None:
    # 25 fps at --fps 5 keeps decode frames 1, 6, 11, ... (times 0, 0.2, 0.4 s exactly).
    video = real_media / D0
    extract_frames(ws, Side.src, video, fps=5)
    files = frames_in(ws.frames_dir(Side.src))
    frames = decode_bgr(video, 11)
    np.testing.assert_array_equal(cv2.imread(str(files[1])), frames[5])
    np.testing.assert_array_equal(cv2.imread(str(files[2])), frames[10])


# --- command line, config, default video --------------------------------------------------------------


def test_cli_with_config_file_and_default_video(ws: Workspace, real_media: Path, copy_fixture) -> None:
    ws.root.mkdir()
    copy_fixture(real_media / D0, "ws/data_dst.mp4")
    ws.config_file.write_text('[extract]\nfps = 5\nformat = "jpg"\n')
    assert main(["--workspace", str(ws.root), "-q", "extract", "dst"]) == 0
    files = frames_in(ws.frames_dir(Side.dst))
    assert abs(len(files) - math.ceil(duration_of(real_media / D0) * 5)) <= 1
    assert files[0].name == "00001.jpg"


def test_issue_command_in_default_workspace(tmp_path: Path, real_media: Path) -> None:
    # `neuface extract src .../talking_head_tpsmm.mp4 --fps 5` from a fresh folder: ./workspace is created.
    out = subprocess.run([sys.executable, "-m", "neuface", "extract", "src", str(real_media / TPSMM), "--fps", "5"],
                         cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "NEUFACE_WORKSPACE": ""})
    assert out.returncode == 0, out.stderr
    assert "34 frames (410x412)" in out.stderr
    assert len(frames_in(tmp_path / "workspace" / "data_src")) == 34


def test_extract_into_cleaned_layout(ws: Workspace, real_media: Path) -> None:
    ws.ensure_layout()  # data_src/ and data_src/aligned/ exist, empty (as after `neuface clean`)
    result = extract_frames(ws, Side.src, real_media / D0, fps=5)
    assert len(frames_in(ws.frames_dir(Side.src))) == result.count == 16
    assert ws.aligned_dir(Side.src).is_dir() and leftovers(ws) == []


def test_frames_folder_may_be_a_symlink(ws: Workspace, real_media: Path, tmp_path: Path) -> None:
    # DFL users often link data_src/ to a bigger disk: frames go through the link, which stays a link.
    elsewhere = tmp_path / "big_disk" / "frames"
    elsewhere.mkdir(parents=True)
    ws.root.mkdir()
    ws.frames_dir(Side.src).symlink_to(elsewhere)
    extract_frames(ws, Side.src, real_media / D0, fps=5)
    extract_frames(ws, Side.src, real_media / D0, fps=2, force=True)
    assert ws.frames_dir(Side.src).is_symlink()
    assert len(frames_in(elsewhere)) == math.ceil(duration_of(real_media / D0) * 2)
    assert leftovers(ws) == []


def test_cli_negative_fps_is_refused(ws: Workspace, real_media: Path) -> None:
    assert main(["--workspace", str(ws.root), "extract", "src", str(real_media / D0), "--fps", "-1"]) == 2
    assert not ws.frames_dir(Side.src).exists()


def test_no_default_video(ws: Workspace) -> None:
    ws.root.mkdir()
    with pytest.raises(UsageError, match="data_src"):
        extract_frames(ws, Side.src)


def test_several_candidate_videos(ws: Workspace, real_media: Path, copy_fixture, capsys) -> None:
    ws.root.mkdir()
    copy_fixture(real_media / D0, "ws/data_src.mp4")
    copy_fixture(real_media / AVI, "ws/data_src.avi")
    assert main(["--workspace", str(ws.root), "extract", "src"]) == 2
    err = capsys.readouterr().err
    assert "data_src.avi" in err and "data_src.mp4" in err
    assert not ws.frames_dir(Side.src).exists()


# --- bad input: one-line error naming the file, nothing left behind ----------------------------------


def _assert_failed_cleanly(ws: Workspace, capsys, video: Path, words: str) -> None:
    code = main(["--workspace", str(ws.root), "extract", "src", str(video)])
    err = capsys.readouterr().err
    assert code != 0
    assert str(video.name) in err and words in err
    assert "Traceback" not in err
    assert not ws.frames_dir(Side.src).exists()
    assert leftovers(ws) == []


def test_truncated_mp4_mid_stream(ws: Workspace, real_media: Path, tmp_path: Path, capsys) -> None:
    data = (real_media / TPSMM).read_bytes()  # index first: the cut loses frames, not the header
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: len(data) // 2])
    _assert_failed_cleanly(ws, capsys, video, "truncated")


def test_truncated_mp4_without_index(ws: Workspace, real_media: Path, tmp_path: Path, capsys) -> None:
    data = (real_media / D0).read_bytes()  # index at the end: the cut loses it
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: len(data) // 2])
    _assert_failed_cleanly(ws, capsys, video, "not a readable video")


def test_not_a_video(ws: Workspace, tmp_path: Path, capsys) -> None:
    video = tmp_path / "notes.mp4"
    video.write_text("this is not a video\n" * 100)
    _assert_failed_cleanly(ws, capsys, video, "not a readable video")


def test_missing_file(ws: Workspace, tmp_path: Path, capsys) -> None:
    _assert_failed_cleanly(ws, capsys, tmp_path / "nope.mp4", "no such file")


def test_zero_video_streams(ws: Workspace, tmp_path: Path, capsys) -> None:
    audio = tmp_path / "sound.wav"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(8000, np.int16).tobytes())
    _assert_failed_cleanly(ws, capsys, audio, "no video stream")


# --- existing frames and --force ------------------------------------------------------------------------


def test_refuses_existing_frames_without_force(ws: Workspace, real_media: Path, capsys) -> None:
    extract_frames(ws, Side.src, real_media / D0, fps=5, fmt=ImageFormat.jpg)
    before = {p.name: p.read_bytes() for p in frames_in(ws.frames_dir(Side.src))}
    assert main(["--workspace", str(ws.root), "extract", "src", str(real_media / TPSMM)]) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in frames_in(ws.frames_dir(Side.src))} == before


def test_force_replaces_frames_and_keeps_aligned(ws: Workspace, real_media: Path) -> None:
    extract_frames(ws, Side.src, real_media / TPSMM, fps=5, fmt=ImageFormat.jpg)
    aligned = ws.aligned_dir(Side.src)
    aligned.mkdir()
    (aligned / "00001_0.jpg").write_bytes(b"face")
    result = extract_frames(ws, Side.src, real_media / D0, force=True)
    files = frames_in(ws.frames_dir(Side.src))
    assert result.replaced == 34 and result.count == 78
    assert [f.suffix for f in files] == [".png"] * 78
    assert cv2.imread(str(files[0])).shape == (512, 512, 3)
    assert (aligned / "00001_0.jpg").read_bytes() == b"face"
    assert leftovers(ws) == []


def test_failed_force_keeps_old_frames(ws: Workspace, real_media: Path, tmp_path: Path) -> None:
    extract_frames(ws, Side.src, real_media / D0, fps=5, fmt=ImageFormat.jpg)
    before = {p.name: p.read_bytes() for p in frames_in(ws.frames_dir(Side.src))}
    data = (real_media / TPSMM).read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut.mp4"):
        extract_frames(ws, Side.src, bad, force=True)
    assert {p.name: p.read_bytes() for p in frames_in(ws.frames_dir(Side.src))} == before
    assert leftovers(ws) == []


def dead_pid() -> int:
    """The pid of a process that has exited (for names a killed run would have left)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_staging_left_by_kill_9_is_removed_next_run(ws: Workspace, real_media: Path, capsys) -> None:
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "neuface", "-q", "-w", str(ws.root), "extract", "src",
                             str(real_media / AVI)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging: list[Path] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        staging = [p for p in ws.root.glob(".staging-data_src.*") if len(list(p.iterdir())) >= 3] \
            if ws.root.is_dir() else []
        if staging:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert staging and staging[0].is_dir(), "the extraction finished before it could be killed"
    assert not ws.frames_dir(Side.src).exists()

    live = ws.root / f".staging-data_src.{owner_tag()}.x"
    other_host = ws.root / f".staging-data_src.{dead_pid()}@otherhost.x"
    live.mkdir()
    other_host.mkdir()
    result = extract_frames(ws, Side.src, real_media / D0, fps=5)
    assert result.count == 16 and not staging[0].exists()
    assert staging[0].name in capsys.readouterr().err
    assert live.is_dir() and other_host.is_dir()  # a running process's, or another machine's: not ours to remove


def test_old_frames_left_by_a_killed_force_are_kept(ws: Workspace, real_media: Path, capsys) -> None:
    pid = dead_pid()
    host = owner_tag().split("@")[1]
    ws.root.mkdir(parents=True)
    replaced = ws.root / f".replaced-data_src.{pid}@{host}.x"
    staging = ws.root / f".staging-data_src.{pid}@{host}.y"
    for folder in (replaced, staging):
        folder.mkdir()
        (folder / "00001.png").write_bytes(b"frame")
    extract_frames(ws, Side.src, real_media / D0, fps=5)
    assert (replaced / "00001.png").is_file() and (staging / "00001.png").is_file()
    assert replaced.name in capsys.readouterr().err.replace("\n", "")


# --- rotation metadata and variable frame rate ---------------------------------------------------------

# What `ffmpeg -i` (autorotate) shows for each display matrix PyAV writes, checked with the ffmpeg CLI.
ORIENTED = {
    (0, False): lambda a: a,
    (0, True): lambda a: a[:, ::-1],
    (90, False): lambda a: np.rot90(a, 1),
    (90, True): lambda a: np.rot90(a[:, ::-1], 3),
    (180, False): lambda a: np.rot90(a, 2),
    (180, True): lambda a: a[::-1],
    (270, False): lambda a: np.rot90(a, 3),
    (270, True): lambda a: np.rot90(a[:, ::-1], 1),
}


@pytest.mark.parametrize(("degrees", "hflip"), list(ORIENTED))
def test_rotation_metadata_is_honoured(ws: Workspace, real_media: Path, tmp_path: Path,
                                       degrees: int, hflip: bool) -> None:
    video = remux(real_media / TPSMM, tmp_path / "rotated.mp4", max_packets=10, rotation=degrees, hflip=hflip)
    extract_frames(ws, Side.src, video)
    files = frames_in(ws.frames_dir(Side.src))
    originals = decode_bgr(real_media / TPSMM, 3)
    for f, original in zip(files[:3], originals, strict=True):
        np.testing.assert_array_equal(cv2.imread(str(f)), ORIENTED[(degrees, hflip)](original))


def test_variable_frame_rate_samples_by_time(ws: Workspace, real_media: Path, tmp_path: Path) -> None:
    # d0 is 25 fps (512 ticks of 1/12800 s per frame); from frame 40 on, stretch time 3x (8.3 fps).
    cut = 40 * 512

    def retime(t: int | None) -> int | None:
        return t if t is None or t < cut else cut + 3 * (t - cut)

    video = remux(real_media / D0, tmp_path / "vfr.mp4", retime=retime)
    result = extract_frames(ws, Side.src, video, fps=5)
    duration = duration_of(video)
    assert abs(result.count - math.ceil(duration * 5)) <= 1
    assert result.count > math.ceil(78 / 5) + 5  # sampling by frame index would give ~16
    files = frames_in(ws.frames_dir(Side.src))
    assert len(files) == result.count
    extract_frames(ws, Side.src, video, force=True)  # native rate: every frame, whatever the timing
    assert len(frames_in(ws.frames_dir(Side.src))) == 78


# --- building blocks ---------------------------------------------------------------------------------------


def test_sampler_every_frame_and_steps() -> None:
    times = [Fraction(i, 30) for i in range(90)]  # 3 s at 30 fps
    assert sum(TimestampSampler(0).keep(t) for t in times) == 90
    sampler = TimestampSampler(5)
    kept = [i for i, t in enumerate(times) if sampler.keep(t)]
    assert kept == list(range(0, 90, 6))


def test_sampler_gap_and_rate_above_source() -> None:
    sampler = TimestampSampler(10)
    times = [Fraction(0), Fraction(1, 10), Fraction(2), Fraction(21, 10)]  # a 1.9 s gap
    assert [sampler.keep(t) for t in times] == [True, True, True, True]  # once per frame, no duplicates
    sampler = TimestampSampler(2)
    times = [Fraction(i, 10) + 7 for i in range(30)]  # starts at 7 s: counted from the first frame
    assert [i for i, t in enumerate(times) if sampler.keep(t)] == [0, 5, 10, 15, 20, 25]


def test_sampler_tolerates_millisecond_rounding() -> None:
    sampler = TimestampSampler(5)
    # A 30 fps clip in a 1 ms time base: frame 6 is stamped 0.200 s, frame 12 0.399 s (not 0.4).
    times = [Fraction(round(i * 1000 / 30), 1000) for i in range(13)]
    assert [i for i, t in enumerate(times) if sampler.keep(t)] == [0, 6, 12]


def test_expected_count() -> None:
    assert expected_count(169, Fraction(676, 100), 0) == 169
    assert expected_count(169, Fraction(676, 100), 5) == 34
    assert expected_count(10, Fraction(10), 5) == 10
    assert expected_count(0, None, 5) is None


def test_writer_reports_write_errors(tmp_path: Path) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(OSError), FrameWriter(tmp_path / "missing", ImageFormat.png, workers=2) as writer:
        for _ in range(10):
            writer.submit(image)
        writer.finish()
