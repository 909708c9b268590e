"""booktransfer.reconcile stage."""
