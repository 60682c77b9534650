"""neuface faceset stage."""
