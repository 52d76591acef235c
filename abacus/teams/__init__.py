"""Teams: the org chart (a tree of teams with cost centres and leads), effective-dated
memberships, the sources that fill them, and chargeback by cost centre.

`tree` creates, renames, moves (never into its own subtree), re-parents and deletes or
archives teams, and adds or ends memberships (the manual edits of Admin → Teams);
`sources` turns a team CSV, GitHub's user–team report and Cursor billing groups into a
previewable, idempotent plan (added / moved / ended) and applies it; `chargeback` charges
each person's usage and seats of a month to the cost centres of the teams they were in.
Read-side team questions (subtrees, members on a day) live in `analytics.scope`.

May import: sync (Cursor billing groups with the account's credentials; data complete
through), seats, people, analytics, usage, models, extensions, config, and the plain data
types of providers (a Cursor billing group).
Imported by: budgets, jobs, cli and web.
"""
