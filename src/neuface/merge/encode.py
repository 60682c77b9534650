"""Write merged frames: a video with the dst video's timing and audio (PyAV), or numbered PNGs.

Video: every frame keeps its source presentation time (so frame count, frame rate and duration match the
dst video, variable frame rate included), H.264 (libx264, CRF) in mp4/mov/mkv, VP9 in webm. The audio
stream's packets are copied untouched (no re-encoding, no quality loss), interleaved by time; only when
the output container cannot hold that codec is the audio re-encoded to the container's default codec.
Provenance goes into the container metadata (mp4/mov with `use_metadata_tags`, so custom keys survive).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neuface.console import warn
from neuface.errors import UsageError, VideoError

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
_VIDEO_CODECS = {"webm": ("libvpx-vp9",), "avi": ("mpeg4",)}
_DEFAULT_CODECS = ("libx264", "h264", "mpeg4")


def container_format(path: Path) -> str:
    fmt = CONTAINERS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"--out {path}: unsupported video type; use one of {', '.join(CONTAINERS)}")
    return fmt


def _pick_codec(fmt: str, supported: set[str]) -> str:
    import av

    for name in _VIDEO_CODECS.get(fmt, _DEFAULT_CODECS):
        if name in av.codecs_available and (name in supported or not supported):
            return name
    raise VideoError(f"no video encoder for {fmt} in this FFmpeg build")


class _Audio:
    """The source's first audio stream, muxed into the output up to a given time (copied, or re-encoded)."""

    def __init__(self, source: Path, out: Any):
        import av

        self.container = av.open(os.fspath(source), metadata_errors="ignore")
        stream = self.container.streams.audio[0]
        self.copy = stream.codec_context.name in out.supported_codecs
        if self.copy:
            self.out_stream = out.add_stream_from_template(stream)
        else:
            codec = out.default_audio_codec
            warn(f"{source.name}: {stream.codec_context.name} audio cannot go into this container; "
                 f"re-encoding it to {codec}")
            rate = 48000 if "opus" in codec else stream.rate  # libopus takes 48/24/16/12/8 kHz only
            self.out_stream = out.add_stream(codec, rate=rate)
            self.out_stream.layout = stream.layout
        self.out = out
        self.packets = self.container.demux(stream)
        self.pending: Any = None
        self.done = False

    def _mux(self, packet: Any) -> None:
        if self.copy:
            packet.stream = self.out_stream
            self.out.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            self.out.mux(self.out_stream.encode(frame))

    def until(self, seconds: float | Fraction) -> None:
        """Mux every audio packet that starts at or before `seconds`."""
        while not self.done:
            if self.pending is None:
                self.pending = next(self.packets, None)
                if self.pending is None:
                    self.done = True
                    break
            p = self.pending
            if p.dts is None:  # demuxer's flush packet
                self.pending = None
                continue
            if p.pts is not None and p.pts * p.time_base > seconds:
                return
            self._mux(p)
            self.pending = None

    def finish(self) -> None:
        self.until(float("inf"))
        if not self.copy:
            self.out.mux(self.out_stream.encode(None))
        self.container.close()


class VideoSink:
    """Encodes BGR frames into `path` (a temp path; the caller renames it), with `source`'s audio."""

    def __init__(self, path: Path, fmt: str, source: Path, rate: Fraction | None, metadata: dict[str, str],
                 crf: int = 18):
        import av

        self.source_path = source
        probe = av.open(os.fspath(source), metadata_errors="ignore")
        try:
            vstream = probe.streams.video[0]
            self.time_base = vstream.time_base or Fraction(1, 90000)
            has_audio = bool(probe.streams.audio)
        finally:
            probe.close()
        options = {"movflags": "use_metadata_tags"} if fmt in ("mp4", "mov") else {}
        self.out = av.open(os.fspath(path), "w", format=fmt, options=options)
        self.out.metadata.update(metadata)
        self.codec = _pick_codec(fmt, set(self.out.supported_codecs))
        self.rate = rate or Fraction(25)
        if fmt == "avi":  # AVI has no timestamps: one tick per frame at the nominal rate
            self.time_base = 1 / Fraction(self.rate)
        self.stream: Any = None
        self.crf = crf
        self.has_audio = has_audio
        self.audio: _Audio | None = None
        self.last_pts = -1
        self.frames = 0
        self.cropped = False

    def _open_stream(self, w: int, h: int) -> None:
        opts = {"crf": str(self.crf)} if self.codec in ("libx264", "libvpx-vp9", "libx265") else {}
        if self.codec == "libx264":
            opts["preset"] = "fast"
        s = self.out.add_stream(self.codec, rate=self.rate, options=opts)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.time_base = self.time_base
        if self.codec == "mpeg4":
            s.bit_rate = max(2_000_000, w * h * 8)
        self.stream = s

    def write(self, image: np.ndarray, seconds: Fraction) -> None:
        """Encode one BGR uint8 frame shown at `seconds`."""
        import av

        h, w = image.shape[:2]
        if h % 2 or w % 2:  # 4:2:0 needs even sizes
            if not self.cropped:
                warn(f"{w}x{h} frames: the video drops the last odd row/column (4:2:0 needs even sizes)")
                self.cropped = True
            image = image[: h - h % 2, : w - w % 2]
        if self.stream is None:  # video first, then audio: the stream order players expect
            self._open_stream(image.shape[1], image.shape[0])
            self.audio = _Audio(self.source_path, self.out) if self.has_audio else None
        pts = max(int(round(seconds / self.time_base)), self.last_pts + 1)
        self.last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts, frame.time_base = pts, self.time_base
        if self.audio is not None:
            self.audio.until(seconds)
        self.out.mux(self.stream.encode(frame.reformat(format="yuv420p")))
        self.frames += 1

    def close(self, ok: bool = True) -> None:
        """Flush the encoder and the remaining audio, and close the file (only closing on failure)."""
        try:
            if ok and self.stream is not None:
                self.out.mux(self.stream.encode(None))
                if self.audio is not None:
                    self.audio.finish()
        finally:
            self.out.close()
