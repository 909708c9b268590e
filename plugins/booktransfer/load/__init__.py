"""booktransfer.load stage."""
