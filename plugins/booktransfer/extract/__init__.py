"""booktransfer.extract stage."""
