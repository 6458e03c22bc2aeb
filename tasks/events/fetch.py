"""One refetch per item per batch: the sync, the review request and the Slack notification read the same copy.

Webhooks carry only ids, so the item is always refetched; `ItemCache` fetches each (kind, id) once with
the document under tasks/jobber/documents/events/ that selects what all three need, and remembers the
answer (or the error) for the rest of the batch. A batch holding JOB_CLOSED and JOB_UPDATE for one job
costs one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Job, connection_nodes

# kind -> (document, root field of its answer)
DOCUMENTS: dict[str, tuple[str, str]] = {
    "job": ("events/job", "job"),
    "visit": ("events/visit", "visit"),
    "invoice": ("events/invoice", "invoice"),
    "client": ("events/client", "client"),
    "quote": ("events/quote", "quote"),
    "payment": ("events/payment", "paymentRecord"),
    "property": ("sync/property", "property"),
    "user": ("sync/user", "user"),
}

# What a kind costs less to fetch as when the contractor's review trigger never reads it (the Slack and
# sync fields stay): a job's review fields under visit/invoice triggers, a visit's job under job_closed ...
WITHOUT_REVIEW: dict[str, tuple[str, str]] = {
    "job": ("events/job_without_review", "job"),
    "visit": ("sync/visit", "visit"),
    "invoice": ("events/invoice_without_review", "invoice"),
}
# trigger -> the kinds whose review fields it reads
REVIEWED_KINDS: dict[str, frozenset[str]] = {
    "job_closed": frozenset({"job"}),
    "visit_completed": frozenset({"visit"}),
    "invoice_created": frozenset({"invoice"}),
    "invoice_paid": frozenset({"invoice", "payment"}),
}


def documents_for(trigger: str | None) -> dict[str, tuple[str, str]]:
    """The document of each kind for a review trigger (None: no review requests, only sync and Slack)."""
    reviewed = REVIEWED_KINDS.get(trigger or "", frozenset())
    return {kind: doc if kind in reviewed else WITHOUT_REVIEW.get(kind, doc) for kind, doc in DOCUMENTS.items()}


# The root field names the Slack notifier asks for -> kind
ROOT_KINDS = {root: kind for kind, (_, root) in DOCUMENTS.items()}

TOPIC_KINDS = {
    "CLIENT": "client",
    "PROPERTY": "property",
    "JOB": "job",
    "VISIT": "visit",
    "INVOICE": "invoice",
    "QUOTE": "quote",
    "USER": "user",
    "PAYMENT": "payment",
}

Node = Mapping[str, Any]


def kind_of(topic: str) -> str | None:
    """The kind of item a topic is about ("JOB_CLOSED" -> "job"), or None."""
    return TOPIC_KINDS.get(topic.strip().upper().split("_", 1)[0])


def review_view(kind: str, node: Node | None) -> Node | None:
    """The review pipeline's shape of a node: an invoice's `jobs` are its `reviewJobs`."""
    if node is None or kind != "invoice" or "reviewJobs" not in node:
        return node
    return {**node, "jobs": node["reviewJobs"]}


class ItemCache:
    """Fetches each (kind, id) at most once; `get` answers the node, None when Jobber has it no more, or
    raises the error the fetch raised (so each event that needs the item records the same failure)."""

    def __init__(
        self, client: JobberClient, *, concurrency: int = 4, documents: dict[str, tuple[str, str]] | None = None
    ) -> None:
        self.client = client
        self.concurrency = concurrency
        self.documents = documents or DOCUMENTS
        self._nodes: dict[tuple[str, str], Node | None | BaseException] = {}
        self.fetches = 0

    def _fetch(self, kind: str, item_id: str) -> Node | None | BaseException:
        document, root = self.documents[kind]
        self.fetches += 1
        try:
            node = self.client.execute(load_document(document), {"id": item_id}).get(root)
        except Exception as exc:  # noqa: BLE001 - remembered and raised to every event that needs it
            return exc
        return node if isinstance(node, Mapping) else None

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Fetch the keys not fetched yet, a few at a time (the client's pacer keeps Jobber's budget). Jobs
        come first: a visit whose job is in the batch is read from the job's answer (closing a job sends
        JOB_CLOSED, JOB_UPDATE, VISIT_COMPLETE and VISIT_UPDATE: one query serves all four)."""
        wanted = list(dict.fromkeys(k for k in keys if k not in self._nodes and k[0] in self.documents))
        self._fetch_all([k for k in wanted if k[0] != "visit"])
        visits = [k for k in wanted if k[0] == "visit"]
        if visits and self.documents["visit"][0] == "sync/visit":
            from_jobs = self._visits_from_jobs()
            for key in visits:
                if key[1] in from_jobs:
                    self._nodes[key] = from_jobs[key[1]]
        self._fetch_all([k for k in visits if k not in self._nodes])

    def _visits_from_jobs(self) -> dict[str, Node]:
        """Visit id -> the visit as sync/visit selects it, from the jobs fetched so far (SyncJobFields select
        every field of a visit the sync stores; its job, client and property are the job's). The visit stays
        the node Jobber sent (the sync stores it as its raw copy); the job is read through its model."""
        found: dict[str, Node] = {}
        for (kind, _), node in list(self._nodes.items()):
            if kind != "job" or not isinstance(node, Mapping) or not node.get("id"):
                continue
            job = Job.read(node)[0]
            refs = {
                "job": {"id": job.id},
                "client": {"id": job.client.id} if job.client else None,
                "property": {"id": job.property.id} if job.property else None,
            }
            for visit in connection_nodes(node.get("visits")):
                if isinstance(visit, Mapping) and visit.get("id"):
                    found[str(visit["id"])] = {**visit, **refs}
        return found

    def fetched(self, kind: str) -> dict[str, Node]:
        """The items of `kind` fetched in this batch (that Jobber still has), by id."""
        return {i: n for (k, i), n in self._nodes.items() if k == kind and isinstance(n, Mapping)}

    def _fetch_all(self, missing: list[tuple[str, str]]) -> None:
        if not missing:
            return
        if len(missing) == 1 or self.concurrency <= 1:
            for kind, item_id in missing:
                self._nodes[(kind, item_id)] = self._fetch(kind, item_id)
            return
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(missing))) as pool:
            for key, value in zip(missing, pool.map(lambda k: self._fetch(*k), missing), strict=True):
                self._nodes[key] = value

    def get(self, kind: str, item_id: str) -> Node | None:
        key = (kind, item_id)
        if key not in self._nodes:
            self._nodes[key] = self._fetch(kind, item_id)
        value = self._nodes[key]
        if isinstance(value, BaseException):
            raise value
        return value

    # -- the shapes the three consumers ask in -------------------------------------------------------
    def for_review(self, kind: str, item_id: str) -> Node | None:
        return review_view(kind, self.get(kind, item_id))

    def for_slack(self, _document: str, root: str, item_id: str) -> Node | None:
        """tasks.slack.notify's ItemFetcher signature: (document, root, id)."""
        return self.get(ROOT_KINDS[root], item_id)


__all__ = ["DOCUMENTS", "ItemCache", "documents_for", "kind_of", "review_view"]
