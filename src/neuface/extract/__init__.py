"""neuface extract stage."""
