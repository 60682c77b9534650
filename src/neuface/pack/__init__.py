"""neuface pack stage: `pack_faceset` / `unpack_faceset` (DFL util --pack-faceset / --unpack-faceset).

Public API (lazy, so the CLI can read `neuface.pack.options` at start-up without loading the faceset code).
"""

from neuface.lazy import lazy_exports

_API = {"PackResult": "packer", "UnpackResult": "packer", "pack_faceset": "packer", "unpack_faceset": "packer"}
__getattr__, __dir__ = lazy_exports(__name__, _API)
__all__ = list(_API)
