"""Budgets, forecasts, budget alerts and anomaly incidents: a service like sync.

`service` holds budgets (add, list, state per period: spent, forecast, threshold days,
status) and `evaluate` (alerts once per budget, period and threshold); `anomalies` turns
spending spikes and expensive new models into incidents someone acknowledges and resolves.

May import: teams (team scopes), seats, sync (credential encryption), notify, usage,
analytics, people, models, extensions, config. Imported by jobs, cli and web only.
"""
