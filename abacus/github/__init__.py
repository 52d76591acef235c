"""GitHub commits and their AI attribution.

`store` writes commits (and moves them between people); `webhook` checks and stores signed
pushes; `backfill` walks repository history through the REST client (`providers.github`)
and fills line stats; `attribution` decides which AI tools a commit names. The `flask abacus
github` commands are in `cli.github`, the RQ jobs in `jobs`.

May import: providers, models, extensions, config, `usage.pricing` (model names),
`usage.ingest.reattribute` (a learned login's Copilot usage follows it). Never sync,
people, analytics, jobs, web or cli.
"""
