"""neuface xseg stage: DFL's XSeg mask network (train, apply, infer), weight-compatible with DFL.

Public API for other stages (lazy): `XSegMasker` (`infer`: masks for faces cut from frames, as merge needs).
"""

from neuface.lazy import lazy_exports

_API = {"XSegMasker": "infer"}
__getattr__, __dir__ = lazy_exports(__name__, _API)
