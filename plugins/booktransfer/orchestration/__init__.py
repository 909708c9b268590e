"""booktransfer.orchestration stage."""
