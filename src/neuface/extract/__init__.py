"""Video -> frames (DFL scripts 1/2), decoded with PyAV.

Kept import-light on purpose: the CLI imports `neuface.extract.formats` at start-up, so PyAV and OpenCV
are imported only by the modules that decode and write (`video`, `writer`, `frames`).
"""
