"""Video -> frames (DFL scripts 1/2), decoded with PyAV.

Kept import-light on purpose: the CLI imports `neuface.extract.formats` at start-up, so PyAV and OpenCV
are imported only by the modules that decode and write (`video`, `writer`, `frames`).

Public API for other stages (lazy): `resolve_video` (`frames`: the video a side uses), `VideoSource`
(`video`: decoded frames), `ImageFormat` (`formats`), `FrameWriter` (`writer`: frames written in order).
"""

from neuface.lazy import lazy_exports

_API = {"resolve_video": "frames", "VideoSource": "video", "ImageFormat": "formats", "FrameWriter": "writer"}
__getattr__, __dir__ = lazy_exports(__name__, _API)
