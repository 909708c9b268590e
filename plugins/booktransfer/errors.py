"""The exceptions booktransfer raises. Messages name the file, column and row, never a value."""

from __future__ import annotations


class BookTransferError(Exception):
    """Base of every error booktransfer raises on purpose."""


class MappingError(BookTransferError):
    """A mapping set is invalid or does not fit the seller's drop."""


class ControlFileError(BookTransferError):
    """The drop does not match its control file (missing file, row count or checksum mismatch)."""


class ChecksumMismatch(ControlFileError):
    """A landed file's SHA-256 differs from the control file's: altered or truncated after it was written."""


class RowCountMismatch(ControlFileError):
    """A file holds a different number of data rows than the control file declares."""


class SourceFormatError(BookTransferError):
    """A source file cannot be read as declared (encoding, header, unexpected columns)."""


class SourceUnavailable(BookTransferError):
    """The drop cannot be reached or a download broke off after every retry; worth trying again later."""


class SourceAccessError(BookTransferError):
    """The drop's connection is refused or unsafe (no pinned host key, host key check off, key rejected)."""


class HostKeyMismatch(SourceAccessError):
    """The server's host key is not the pinned one: possibly a different machine in the middle."""


class ValidationFailed(BookTransferError):
    """A table-level check failed, or rejects exceed the allowed threshold."""


class KeyringError(BookTransferError):
    """A key is missing, unknown or unusable."""


class UnknownKeyId(KeyringError):
    """A ciphertext or staged file names a key id the keyring does not hold."""


class AuthenticationFailed(KeyringError):
    """A ciphertext or staged file failed authentication: tampered, truncated, or encrypted under another key."""


class LoadError(BookTransferError):
    """The buyer's database cannot take the load (schema mismatch, concurrent run)."""


class SchemaMismatch(LoadError):
    """A buyer table or column is missing, or of a type the staged values do not fit; found before any write."""


class TransferLocked(LoadError):
    """Another run of the same transfer is loading right now; a second concurrent load is refused."""


class TargetUnavailable(BookTransferError):
    """The buyer's database could not be reached or dropped the connection mid-load (the batch rolled back)."""


class ConsentError(BookTransferError):
    """Consent cannot be carried over as the transfer settings ask."""


class PurposeNotPermitted(ConsentError):
    """A purpose the buyer declared goes beyond what the seller's consents permit and has no re-consent."""


class RequestFileError(BookTransferError):
    """A data-subject request (suppression) or re-consent file cannot be read; names the file, line and column."""


class ReconciliationFailed(BookTransferError):
    """The reconciliation found records lost, duplicated or altered."""


class SettingsError(BookTransferError):
    """A transfer setting (DAG param, settings file) is missing, malformed or outside its allowed values."""


class ComplianceGateFailed(BookTransferError):
    """The transfer's settings fail a compliance rule (impact assessment, purposes, legal route, cross-border)."""
