"""neuface pipeline stage."""
