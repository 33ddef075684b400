"""The package shows the pipeline, and its imports only point down it.

files -> passages (ingest) -> vectors (models) -> index -> retrieval -> answer
-> assistant -> evaluation, access rights -> interfaces (cli, web). A module may import its own
stage, the stages below it and the foundation (errors, schema, settings,
atomic writes, text analysis); never a stage above it. Every import counts,
including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hdf_assistant

PACKAGE = Path(hdf_assistant.__file__).parent

#: stage of each top-level module or package, lowest first
STAGES = {
    "errors": 0, "schema": 0, "config": 0, "atomic": 0, "analysis": 0, "data": 0,
    "ingest": 1,
    "models": 2,
    "index": 3,
    "retrieve": 4,
    "answer": 5,
    "assistant": 6,
    "evaluate": 7, "access": 7,
    "cli": 8, "web": 8, "__main__": 9, "__init__": 9,
}
#: the only modules allowed loose at the top, beside the stage packages
LOOSE = {"__init__", "__main__", "cli", "config", "errors", "schema", "assistant",
         "atomic",    # atomic file writes, below every stage
         "analysis",  # the French text analysis (folding, stemming, language) every stage shares
         "retrieve"}  # a stage of its own: question -> ranked passages, through the index interface


def _stage(path: Path) -> tuple[str, int]:
    top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return top, STAGES[top]


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hdf_assistant"):
            parts = node.module.split(".")
            if len(parts) == 1:  # from hdf_assistant import x
                found += [(node.lineno, alias.name) for alias in node.names]
            else:
                found.append((node.lineno, parts[1]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1]) for a in node.names
                      if a.name.startswith("hdf_assistant.")]
    return found


def test_no_module_imports_a_stage_above_it() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top, level = _stage(path)
        for line, target in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            assert target in STAGES, f"{path.relative_to(PACKAGE)}:{line} imports hdf_assistant.{target}, which has no stage"
            if STAGES[target] > level and target != top:
                where = f"{path.relative_to(PACKAGE)}:{line}"
                upward.append(f"{where} ({top}, stage {level}) imports {target} (stage {STAGES[target]})")
    assert not upward, "imports up the pipeline:\n" + "\n".join(upward)


def test_the_top_level_holds_only_the_stages_and_a_few_modules() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose <= LOOSE, f"modules loose at the top: {sorted(loose - LOOSE)}"
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages <= set(STAGES), f"packages without a stage: {sorted(packages - set(STAGES))}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk finds imports inside functions and both import forms."""
    source = "def f():\n    from hdf_assistant.assistant import Assistant\n    import hdf_assistant.web.api\n"
    assert [t for _, t in _imported(ast.parse(source))] == ["assistant", "web"]


def test_nothing_below_the_assistant_reads_the_settings() -> None:
    """Settings are read at the top (assistant.py builds the components from them, the interfaces and
    the evaluation above it); the stages below take plain values and objects."""
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top, level = _stage(path)
        if level >= STAGES["assistant"] or top == "config":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "hdf_assistant.config":
                names = {a.name for a in node.names} & {"Settings", "load_settings", "embedding_prefixes"}
                if names:
                    readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {sorted(names)}")
    assert not readers, "settings read below the top:\n" + "\n".join(readers)
