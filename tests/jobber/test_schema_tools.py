"""Staying current with Jobber's API versions: pull a live schema, store it, re-check our documents."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.jobber import SandboxServer
from tasks.jobber.schema_tools import check_documents, load_schema, pull_schema


def test_pulling_a_new_version_stores_it_and_checks_every_document(sandbox: SandboxServer, tmp_path: Path) -> None:
    path = pull_schema(
        graphql_url=sandbox.url + "/api/graphql",
        api_version="2026-05-12",
        access_token=sandbox.issue_tokens()["access_token"],
        directory=tmp_path,
    )
    assert path == tmp_path / "schema-2026-05-12.introspection.json"
    assert "__schema" in json.loads(path.read_text())
    assert sandbox.store.versions_seen["2026-05-12"] >= 1, "the introspection was sent with the new version header"
    schema = load_schema("2026-05-12", tmp_path)
    assert schema.get_type("Job") is not None
    assert check_documents(schema) == [], "every document the project sends is valid against the pulled schema"


def test_a_version_that_dropped_a_field_we_use_is_reported(tmp_path: Path) -> None:
    bundled = json.loads(
        (Path(__file__).resolve().parents[2] / "tasks/jobber/schema/schema-2025-04-16.introspection.json").read_text()
    )
    for type_ in bundled["__schema"]["types"]:
        if type_["name"] == "Job":
            type_["fields"] = [f for f in type_["fields"] if f["name"] != "jobStatus"]
    (tmp_path / "schema-2099-01-01.introspection.json").write_text(json.dumps(bundled))
    problems = check_documents(load_schema("2099-01-01", tmp_path))
    assert problems and any("jobStatus" in p.message for p in problems)
    assert all(p.name for p in problems), "each problem names the document to fix"
