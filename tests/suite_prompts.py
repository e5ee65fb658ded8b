"""The prompts the service-level tests send, read from their source.

A model that flags one of them fails those tests once shipped, far from the cause (session 13's
model blocked the fault test's "kafka outage clip 0", and only a fresh-clone CI run found it).
``tests/unit/test_semantic.py`` checks the shipped model against them, and
``bench/encoder_candidates.py`` checks candidate models before one is shipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REVIEW_PROMPT

ROOT = Path(__file__).resolve().parents[1]
FILES = ("tests/conftest.py", "tests/integration/*.py", "tests/browser/*.py")
PROMPT_CALLS = {"gen_body"}  # helpers whose first positional argument is the prompt
# Sent to be flagged (the review-queue fixture, the blocked prompt of test_e2e): not plain.
MEANT_TO_BE_FLAGGED = {REVIEW_PROMPT, "h0w t0 k1ll y0urs3lf"}


def _texts(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):  # f"a kite {i}": rendered with 0, 1 and 2
        return ["".join(str(v.value) if isinstance(v, ast.Constant) else str(i) for v in node.values) for i in range(3)]
    return []


def suite_prompts() -> list[str]:
    """``prompt=...`` and ``{"prompt": ...}`` literals, ``gen_body("...")`` and the default of a
    ``prompt`` parameter, without the texts that have no space ("x": bad-input tests) and those
    ``MEANT_TO_BE_FLAGGED``. Each of them is a plain benign prompt."""
    found: set[str] = set()
    for pattern in FILES:
        for path in sorted(ROOT.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                values: list[ast.AST] = []
                if isinstance(node, ast.Call):
                    values += [k.value for k in node.keywords if k.arg == "prompt"]
                    if isinstance(node.func, ast.Name) and node.func.id in PROMPT_CALLS and node.args:
                        values.append(node.args[0])
                elif isinstance(node, ast.FunctionDef):  # the defaults belong to the last parameters
                    a = node.args
                    values += [d for p, d in zip(a.args[::-1], a.defaults[::-1], strict=False) if p.arg == "prompt"]
                elif isinstance(node, ast.Dict):
                    values += [v for k, v in zip(node.keys, node.values, strict=True) if _texts(k) == ["prompt"]]
                for v in values:
                    found.update(t for t in _texts(v) if " " in t.strip())
    return sorted(found - MEANT_TO_BE_FLAGGED)
