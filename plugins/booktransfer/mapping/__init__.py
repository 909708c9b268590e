"""booktransfer.mapping stage."""
