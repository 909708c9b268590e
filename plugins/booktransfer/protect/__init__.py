"""booktransfer.protect stage."""
