"""neuface sort stage: DFL's sort methods over aligned faces, plus identity and final selections.

Public API for other stages (lazy): `identity_order`, `stored_embedding` (`identity`); `default_jobs`,
`progress_bars` (`parallel`: the worker count and progress bars the metric pool uses).
"""

from neuface.lazy import lazy_exports

_API = {"identity_order": "identity", "stored_embedding": "identity",
        "default_jobs": "parallel", "progress_bars": "parallel"}
__getattr__, __dir__ = lazy_exports(__name__, _API)
