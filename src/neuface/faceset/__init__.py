"""DFL-compatible face data: every stage reads and writes aligned faces only through this package.

Face types (`FaceType`, `SampleType`), alignment and landmark maths are the DFL core's (`neuface.dfl`).

- `FaceMeta`: one face's metadata (face_type, landmarks float32 (N,2) in aligned pixels, source_filename,
  source_rect, source_landmarks, image_to_face_mat, seg_ie_polys, xseg_mask encoded bytes,
  eyebrows_expand_mod, `extra` for unknown and neuface-only keys such as `neuface_identity`).
  `get_xseg_mask()`/`set_xseg_mask()` convert masks as DFL does; `to_dict()`/`from_dict()` round-trip
  DFL's dict exactly (unchanged fields keep their original objects, so files rewrite byte for byte).
- `dfljpg.read_meta(path)`, `dfljpg.write_aligned_jpeg(path, bgr, meta, quality=90)` (a `.png` path
  writes a lossless PNG with old DFL's `fcWp` chunk), `dfljpg.update_meta(path, meta)` (only the
  metadata segment changes; atomic). Every unreadable, malformed or unsafe file raises
  `FacesetFormatError` naming it; pickles go through the restricted unpickler, so nothing executes.
- `Faceset.open(aligned_dir)`: a `faceset.pak` if present (warns about loose images beside it), else the
  folder's images (top level plus person sub-folders). `len(fs)`, `for rec in fs`, `fs[i]`, `fs["name"]`;
  each `FaceRecord` has `name`, `person_name`, `path` (None in a pak), lazy `meta`, `shape`,
  `load_image()` (BGR uint8), `load_bytes()`. `fs.update_metas({name: meta})` rewrites metadata
  (folder: each file atomically; pak: new pak written, verified, swapped in).
- `ensure_not_mixed(aligned_dir, action)`: for commands that rename or delete loose files.
- `pak.PakReader` (memory-mapped, opens a 60,000-face pak in milliseconds) and `pak.write_pak`.
"""

from neuface.faceset import dfljpg
from neuface.faceset.faceset import FaceRecord, Faceset, FolderFaceset, PakFaceset, ensure_not_mixed, list_images
from neuface.faceset.meta import FaceMeta

__all__ = ["FaceMeta", "FaceRecord", "Faceset", "FolderFaceset", "PakFaceset", "dfljpg", "ensure_not_mixed",
           "list_images"]
