"""The GraphQL documents this project sends to Jobber, loaded from ``tasks/jobber/documents/``.

Each ``<resource>/<action>.graphql`` file holds exactly one operation. Selections shared by several
operations live as fragments in ``documents/fragments/*.graphql``; :func:`load_document` appends the
fragments an operation spreads (and the ones those spread), so what it returns is a complete document
ready for ``JobberClient.execute``. Fragment names are unique across the fragment folder.

The contract tests validate every operation, with its fragments, against Jobber's schema.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import FragmentDefinitionNode, FragmentSpreadNode, Visitor, parse, visit

DOCUMENTS_DIR = Path(__file__).with_name("documents")
FRAGMENTS_DIR = DOCUMENTS_DIR / "fragments"


class _SpreadCollector(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spreads_and_definitions(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """Names of the fragments ``text`` spreads, and of the fragments it defines itself."""
    ast = parse(text, no_location=True)
    collector = _SpreadCollector()
    visit(ast, collector)
    defined = {d.name.value for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    return frozenset(collector.names), frozenset(defined)


@cache
def _fragment_library() -> dict[str, tuple[str, frozenset[str]]]:
    """Fragment name -> (its definition's source text, the fragments it spreads)."""
    library: dict[str, tuple[str, frozenset[str]]] = {}
    for path in sorted(FRAGMENTS_DIR.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        ast = parse(text)
        for definition in ast.definitions:
            if not isinstance(definition, FragmentDefinitionNode) or definition.loc is None:
                raise ValueError(f"{path} may only hold fragment definitions")
            name = definition.name.value
            if name in library:
                raise ValueError(f"fragment {name} is defined twice (second time in {path})")
            source = text[definition.loc.start : definition.loc.end]
            spreads, _ = _spreads_and_definitions(source)
            library[name] = (source, spreads)
    return library


def with_fragments(text: str) -> str:
    """Return ``text`` followed by every shared fragment it spreads, directly or through other fragments.

    Fragments ``text`` defines itself win over the shared ones; an unknown spread is left for GraphQL
    validation to report.
    """
    library = _fragment_library()
    spreads, defined = _spreads_and_definitions(text)
    needed: list[str] = []
    pending = sorted(spreads - defined)
    seen = set(defined)
    while pending:
        name = pending.pop(0)
        if name in seen or name not in library:
            continue
        seen.add(name)
        needed.append(name)
        pending.extend(sorted(library[name][1] - seen))
    if not needed:
        return text
    return "\n\n".join([text.rstrip(), *(library[name][0] for name in needed)]) + "\n"


@cache
def load_document(name: str) -> str:
    """Load the operation ``documents/<name>.graphql`` (e.g. ``"jobs/close"``) with the fragments it uses.

    Raises ``FileNotFoundError`` naming the path when there is no such document.
    """
    path = (DOCUMENTS_DIR / f"{name}.graphql").resolve()
    if DOCUMENTS_DIR.resolve() not in path.parents or name.startswith("fragments/"):
        raise FileNotFoundError(f"no GraphQL operation named {name!r} under {DOCUMENTS_DIR}")
    return with_fragments(path.read_text(encoding="utf-8"))


def all_documents() -> dict[str, str]:
    """Every operation under ``documents/``, keyed by name (``"jobs/search"``), fragments included."""
    names = sorted(
        path.relative_to(DOCUMENTS_DIR).with_suffix("").as_posix()
        for path in DOCUMENTS_DIR.rglob("*.graphql")
        if FRAGMENTS_DIR not in path.parents
    )
    return {name: load_document(name) for name in names}
