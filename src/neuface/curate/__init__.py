"""`neuface curate`: find the faces DFL's guide tells users to delete by hand, with a reason and a score each.

score.py measures every face (signals.py, one small function per signal) and judges it against this
faceset's own distribution; report.py writes curate.json and the review sheet; apply.py moves flagged
faces to aligned_trash/<reason>/ and back, exactly (manifest), for folders and faceset.pak alike.
"""

from neuface.curate.options import REASONS, CurateOptions

__all__ = ["REASONS", "CurateOptions"]
