"""The `flask abacus …` commands: a face, thin over the same services as web and jobs.

`root` holds the `abacus` group and every command but GitHub's (`github`); `common` the
shared option parsing and progress bars.

May import: anything below it (services, jobs, analytics, models, providers). Nothing in
abacus imports cli but the app factory.
"""
