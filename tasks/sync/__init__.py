"""Jobber into the database: ``mapping`` (Jobber nodes to rows), ``repository`` (idempotent upserts, deletes,
watermarks), ``reconcile`` (full and incremental sync by resource), ``refresh`` (one record after a webhook),
``accuracy`` (Jobber against the database) and the Prefect tasks over them.
"""
