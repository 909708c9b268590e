"""Consent carried over to the buyer: per person and purpose, four states, decided from the seller's events.

Pure logic (no I/O, no Arrow in the decision itself): `model` holds the vocabulary, `resolve` turns a person's
events into a state, `decide` turns a state into what the buyer may do, `purposes` checks the buyer's declared
purposes, `table` builds the buyer's `consent_status` rows.
"""
