"""neuface train stage."""
