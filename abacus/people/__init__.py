"""People: who signs in and who is behind every provider identity.

`users` keeps the people who sign in and their roles; `identities` maps provider actors (API
keys, member ids) and commit authors to a person, and re-attributes their past usage and
commits when a mapping changes or two people are merged. `tokens` keeps the bearer tokens
machines use (API, ingest); `access_log` records who read whose figures (and prunes it after
ABACUS_ACCESS_LOG_DAYS).

May import: models, extensions, config, providers (base; the registry for identity sources),
usage (ingest.reattribute), github
(store, to move commits). Never sync, analytics, jobs, web or cli.
"""
