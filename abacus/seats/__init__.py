"""Seats: what each person costs in subscriptions, and which paid seats nobody uses.

`plans` holds the shipped seat prices and admins' effective-dated overrides; `assignments`
gathers every seat (admin-entered rows, Copilot seats, Cursor team members and Cursor seat
accounts) as effective-dated spans and imports the seat CSV; `cost` prorates seat cost by
day and puts it beside usage cost per person; `idle` finds paid seats nobody used;
`included` measures usage the seats already pay for (Copilot's credits, Cursor's included).

May import: analytics, usage, models, extensions, config (the read side and the shell).
Imported by: web, cli, jobs.
"""
