"""Dependency rules of docs/architecture.md, checked statically and by importing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_WSSS = ("ray", "mlflow", "optuna")


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_wsss_sources_import_no_ray_mlflow_optuna() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(_imported_roots(p) & set(FORBIDDEN_IN_WSSS))
        for p in (REPO / "wsss").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_wsss_module_loads_none_of_them() -> None:
    modules = [
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "wsss").rglob("*.py")
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IN_WSSS!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_analysis_never_imports_torch() -> None:
    offenders = [str(p) for p in (REPO / "analysis").rglob("*.py") if "torch" in _imported_roots(p)]
    assert offenders == []


def test_the_rule_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom ray import tune\nimport mlflow.tracking\n")
    assert _imported_roots(bad) & set(FORBIDDEN_IN_WSSS) == {"ray", "mlflow"}


def test_importing_analysis_loads_no_torch() -> None:
    code = ("import sys, analysis.report, analysis.tables, analysis.runs\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_stages_never_import_stages() -> None:
    """File names and loaders live in wsss.artifacts, the loop in wsss.engine."""
    offenders = {}
    for path in (REPO / "wsss" / "stages").glob("*.py"):
        tree = ast.parse(path.read_text())
        stage_imports = sorted(
            {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
             and n.module.startswith("wsss.stages.")}
            | {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and n.module == "wsss.stages" for a in n.names if a.name != "Stage"})
        if stage_imports:
            offenders[path.name] = stage_imports
    assert offenders == {}


OUTSIDE_DOCS = ("shared" + "/", "SPEC" + " §")  # split: this file must not match itself


def test_code_cites_only_documents_in_the_repository() -> None:
    cited = [str(p.relative_to(REPO)) for folder in ("wsss", "study", "trainables", "analysis",
                                                     "search_spaces", "benchmarks", "tests")
             for p in (REPO / folder).rglob("*.py")
             if any(ref in p.read_text() for ref in OUTSIDE_DOCS)]
    assert cited == []
    for doc in ("method.md", "architecture.md", "adding-a-method.md", "synthetic.md"):
        assert (REPO / "docs" / doc).exists()


def test_docs_are_cited_by_heading_and_the_headings_exist() -> None:
    """A section number breaks silently when a document is renumbered; a heading's words are
    found with grep and checked here: ``docs/method.md, "Random walk"`` (or ``docs/x.md:
    "A", "B"``) names a heading, or a bold item, of that document."""
    cite = re.compile(r'docs/([\w-]+\.md)(?:,|:) ((?:"[^"\n]+"(?:, )?)+)')
    missing, numbered = [], []
    for folder in ("wsss", "study", "trainables", "analysis", "search_spaces", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            if re.search(r"docs/[\w-]+\.md §|\(docs §", text):
                numbered.append(str(path.relative_to(REPO)))
            for doc, names in cite.findall(re.sub(r"\n\s*(#\s*)?", " ", text)):
                body = (REPO / "docs" / doc).read_text()
                titles = re.findall(r"^#+ (.*)$", body, re.M) + re.findall(r"\*\*(.+?)\*\*", body)
                missing += [f"{path.name}: {doc} {n}" for n in re.findall(r'"([^"]+)"', names)
                            if not any(n.split(":")[0] in t for t in titles)]
    assert numbered == [] and missing == []
