"""The gateway's admin page (`/admin/jobber`, Jobber's "Manage App URL"): what it shows, and how.

- `tasks.admin.dashboard`: the page's queries, plain functions over a Session (no web framework), and
  the frozen dataclasses they return.
- `tasks.admin.masking`: phone numbers and email addresses as the page shows them.
- `tasks.admin.chart`: the weekly review-request chart as inline SVG, a pure function (no JavaScript).
- `tasks.admin.pages`: Jinja rendering of templates/admin/ (autoescaped).
"""
