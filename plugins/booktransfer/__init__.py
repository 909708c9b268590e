"""booktransfer: move an insurer's customer book to a buyer, with proof that nothing was lost or leaked."""

__version__ = "0.1.0"
