"""booktransfer.validate stage."""
