"""neuface pack stage: `pack_faceset` / `unpack_faceset` (DFL util --pack-faceset / --unpack-faceset)."""

from neuface.pack.packer import PackResult, UnpackResult, pack_faceset, unpack_faceset

__all__ = ["PackResult", "UnpackResult", "pack_faceset", "unpack_faceset"]
