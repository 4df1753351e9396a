"""The token wallet: ledger, reservations, quotas and payments."""
