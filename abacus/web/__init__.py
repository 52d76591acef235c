"""The web face: one blueprint module per area (`blueprints` registers them), template
filters, htmx helpers, charts, query parameter checks (`params`), request limits.

Views stay thin: parse, authorize, call a service or an analytics function, render.
May import: anything below it (analytics, services, jobs, models, providers' registry), but
never SQLAlchemy: views build no SQL. Nothing in abacus imports web but the app factory.
"""
