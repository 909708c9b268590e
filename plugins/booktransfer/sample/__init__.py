"""booktransfer.sample stage."""
