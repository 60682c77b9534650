"""neuface detect stage: faces and 68-point landmarks found in frames, written as DFL aligned faces.

The public API other stages use (imported lazily, so `import neuface.detect` costs nothing):

- `DetectOptions`, `create_backend`: a face detector backend from the registry (`backends/`);
  `backend_help`: the `--backend` help text.
- `select_faces`: which detected faces a frame keeps (`faces`); `FrameError`, `load_frame` (`frames`).
- `LandmarkSmoother`, `DEFAULT_STRENGTH`: One-Euro smoothing of landmark tracks (`smoothing`);
  `SMOOTHED_KEY`: the metadata mark of faces `detect --smooth` already smoothed (`smooth_pass`).
- `compute_identity_embedding`, `IDENTITY_KEY`: the identity embedding stored in each face (`identity`).
- `dlib_model`: the path of one of dlib's weight files (`weights`).
"""

from neuface.lazy import lazy_exports

_API = {
    "DetectOptions": "backends", "create_backend": "backends", "backend_help": "backends",
    "select_faces": "faces", "FrameError": "frames", "load_frame": "frames",
    "LandmarkSmoother": "smoothing", "DEFAULT_STRENGTH": "smoothing", "SMOOTHED_KEY": "smooth_pass",
    "compute_identity_embedding": "identity", "IDENTITY_KEY": "identity", "dlib_model": "weights",
}
__getattr__, __dir__ = lazy_exports(__name__, _API)
