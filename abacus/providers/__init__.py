"""Provider adapters: HTTP in, normalized UsageRecord objects out. No database, no Flask."""
