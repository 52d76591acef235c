"""Usage: the numbers every tool reports, stored once and priced.

`ingest` is the ONLY writer of the usage tables (events, change log, rollups): sync, CSV
imports and demo data all go through it. `imports` reads CSV exports (`csvrows` walks the
rows of any fixed-header CSV upload, seats' and teams' too); `pricing` knows model names and
what tokens cost; `prices` decides which price is in force on a day (the shipped
table, then `updated` and `override` rows in `model_prices`); `price_updates` reads LiteLLM's
published table; `pricing_overrides` stores admins' prices; `exclusions` is the rule that
keeps an account's excluded identities out of every rollup; `precedence` the rule that counts
one source per person-day where telemetry and a billed source overlap.

May import: providers (the normalized record types, the registry's capabilities, the
LiteLLM download), models, extensions, config.
Never sync, github, people, analytics, jobs, web or cli.
"""
