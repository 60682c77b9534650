"""neuface export stage."""
