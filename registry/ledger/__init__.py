"""The scoring ledger (arts. 34–44, 55): append-only, hash-chained points per assessment object
and cycle, the sanctions of art. 43 and the filing-interface state they imply."""

from .chain import ChainReport
from .service import DuplicateEntry, FindingScore, Ledger, LedgerError
from .standing import Entry, Standing, ThresholdEvent

__all__ = ["ChainReport", "DuplicateEntry", "Entry", "FindingScore", "Ledger", "LedgerError", "Standing",
           "ThresholdEvent"]
