"""neuface: from raw video to a live-ready DeepFaceLive .dfm, compatible with DeepFaceLab's files."""

__version__ = "0.1.0"
