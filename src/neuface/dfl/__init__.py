"""neuface's DeepFaceLab core: the formats and maths every stage shares with DFL, written once.

- `facetype`: `FaceType` (DFL id, full name, short code, crop padding) and `SampleType`; every parse and
  print of a face type goes through it.
- `align`: DFL's bit-exact image-to-face matrix, the landmark template, yaw.
- `landmarks`: hull, eye and mouth masks, head pose, mirroring, debug drawing (DFL's LandmarksProcessor).
- `weights`: the one torch <-> DFL converter for weight and optimizer-state files (SAEHD, XSeg, discriminators).
- `optim`: leras' AdaBelief and RMSprop, with their `*_opt.npy` state.
- `losses`: leras' `gaussian_blur` and `dssim`, the filters SAEHD's and XSeg's losses are built from.
- `safe_pickle`: the one restricted unpickler, and the numpy-1-compatible pickler DFL files are written with.

The core stands below the stages: it imports nothing from neuface's stage packages (detect, faceset, train,
xseg, merge, ...), only the base modules (`neuface.errors`, `neuface.console`, `neuface.runtime`), so every
stage can use it.
"""
