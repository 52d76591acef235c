"""Access: who may see and do what, and the record of who looked at whom.

`policy` holds every role rule in one place (the `Viewer`: admin, finance, team lead,
member; which people's rows a viewer sees, whether an aggregate is large enough to show,
who may export or administer). Pages, htmx fragments, CSV exports and the JSON API all ask
it, through the thin adapter `abacus.web.access` that builds a Viewer from the signed-in
user (or API token). The access log itself lives in `people.access_log`.

May import: analytics (scope: team leads and their subtrees), models, extensions, config.
Imported by: web, jobs.
"""
