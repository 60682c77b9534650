"""The training harness under every trainer (SAEHD in `neuface.train`, XSeg in `neuface.xseg`); it imports no stage.

`loop.run_loop` drives any `engine.TrainingEngine`: save timer, previews, TensorBoard scalars (`scalars`),
SIGINT/SIGTERM stop and time triggers (`triggers`), target iteration, backups and the status line are written
once, so both trainers stop, save and resume alike. Beside it what both trainers' files need: torch RNG state
for exact resumes (`rng`), preview grids and loss curves (`preview`), DFL's summary text (`summary`).
"""
