"""The database every pipeline shares: SQLAlchemy models, Alembic migrations, engines, and the repositories
that belong to no single pipeline (Jobber accounts and tokens, the webhook inbox, opt-outs, restore marks),
plus backups and the one lease/claim queue (``lease``: review sends, the Slack outbox, event work). It
stands on floor 1 of ``tasks/``: it imports only settings, errors, retry and phone, never a pipeline. A
pipeline's own tables are written by that pipeline (sync's upserts: ``tasks.sync.repository``).
"""
