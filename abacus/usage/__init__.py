"""Usage: the numbers every tool reports, stored once and priced.

`ingest` is the ONLY writer of the usage tables (events, change log, rollups): sync, CSV
imports and demo data all go through it. `imports` reads CSV exports; `pricing` knows model
names and prices (shipped table plus admin overrides in `pricing_overrides`); `exclusions`
is the rule that keeps an account's excluded identities out of every rollup.

May import: providers.base (the normalized record types), models, extensions, config.
Never sync, github, people, analytics, jobs, web or cli.
"""
