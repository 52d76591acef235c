"""Sync: provider accounts and keeping their usage current.

`engine` runs each account's sync, backfill and gaps (one RQ job per account, an advisory
lock each, data and cursor in one transaction); `accounts` stores accounts and their
encrypted credentials; `alerts` tells people when an account needs attention; `status` and
`account_rows` are the read models of the Status page and Admin → Accounts (they need the
provider registry, which the read side `analytics` never imports).

May import: providers, models, extensions, config, usage (ingest is the only writer of usage
tables), people (identities), analytics (shared read queries). Never jobs, web or cli.
"""
