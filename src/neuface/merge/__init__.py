"""neuface merge stage."""
