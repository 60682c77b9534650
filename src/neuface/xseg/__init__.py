"""neuface xseg stage."""
