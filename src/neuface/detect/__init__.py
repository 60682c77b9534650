"""neuface detect stage."""
