"""Read side: the numbers pages show, as plain dataclasses, one module per page
(`overview`, `person`, `team`, `usage`, `commits`, `admin`; the JSON API's own reads in
`api`; shared helpers in `common`).

Views never build SQL; they call these functions and render what comes back. Everything
here reads the rollups and the commit tables; nothing writes.

May import: models, extensions, config, `usage.pricing` (prices and model names) and
`github.attribution` (tool names). Never providers, sync, jobs, web or cli: a number that
needs the provider registry (Admin → Accounts, Status) is built in `sync`.
"""
