"""neuface pack stage."""
