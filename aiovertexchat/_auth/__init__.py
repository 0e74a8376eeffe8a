"""Auth layer: token sources, Google credentials with background refresh, the refresh schedule."""
