"""neuface imaging stage."""
