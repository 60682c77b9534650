"""neuface sort stage."""
