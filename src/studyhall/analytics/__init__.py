"""Read-only figures across the other domains."""
