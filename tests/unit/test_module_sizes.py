"""Short modules with one job, short functions where every event passes (issue #19).

A module of the code folders over `MAX_MODULE_LINES` says why in its docstring, in a sentence starting
"Long because"; a function or method on the hot path (`HOT_PATH`: what runs once per event or per batch)
is at most `MAX_FUNCTION_LINES` long, from its `def` to the end of its body. Each check is a plain function
over source text, so the self-tests below show that it does fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE_FOLDERS = ("events", "projections", "streams", "adapters")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
HOT_PATH = (
    "streams/steps.py",
    "streams/project.py",
    "streams/resolve.py",
    "streams/validate.py",
    "streams/embedded.py",
    "streams/faust_agents.py",
    "projections/fold.py",
    "projections/identity.py",
    "projections/customer_360.py",
    "projections/signals.py",
    "projections/touchpoints.py",
    "events/parsing.py",
    "events/values.py",
    "adapters/gateway/ingest.py",
    "adapters/master_record/application.py",
)
# "Long because" and at least a few words of reason, not the bare phrase.
_REASON = re.compile(r"\bLong because\s+\S+(\s+\S+){2,}")


def unexplained_length(source: str, max_lines: int = MAX_MODULE_LINES) -> int | None:
    """The module's line count if it is over `max_lines` and its docstring gives no "Long because"."""
    lines = len(source.splitlines())
    if lines <= max_lines:
        return None
    docstring = ast.get_docstring(ast.parse(source)) or ""
    return None if _REASON.search(docstring) else lines


def long_functions(source: str, max_lines: int = MAX_FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function or method longer than `max_lines`."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > max_lines:
                    found.append((name, child.lineno, length))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def code_modules() -> list[Path]:
    return sorted(p for folder in CODE_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def test_every_long_module_says_why_it_is_long() -> None:
    offenders = []
    for path in code_modules():
        lines = unexplained_length(path.read_text(encoding="utf-8"))
        if lines is not None:
            offenders.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not offenders, (
        f"over {MAX_MODULE_LINES} lines with no reason given: {', '.join(offenders)}. Split each along a "
        'real seam, or add one honest sentence starting "Long because ..." to its module docstring.'
    )


def test_no_long_function_on_the_hot_path() -> None:
    offenders = []
    for relative in HOT_PATH:
        for name, line, length in long_functions((ROOT / relative).read_text(encoding="utf-8")):
            offenders.append(f"{relative}:{line} {name} ({length} lines)")
    assert not offenders, (
        f"hot-path functions over {MAX_FUNCTION_LINES} lines: {', '.join(offenders)}. Split each into "
        "well-named helpers (a pure refactor: same behaviour, same tests)."
    )


def test_every_hot_path_module_exists() -> None:
    """A renamed module would otherwise drop out of the check silently."""
    assert [p for p in HOT_PATH if not (ROOT / p).is_file()] == []


# --- the checks themselves can fail ---------------------------------------------------------------


def test_a_long_module_without_a_reason_is_caught() -> None:
    body = "x = 1\n" * 5
    assert unexplained_length(f'"""Does one thing."""\n{body}', max_lines=4) == 6
    assert unexplained_length(f'"""Does one thing. Long because"""\n{body}', max_lines=4) == 6
    assert unexplained_length(f"# Long because it is a table of data.\n{body}", max_lines=4) == 6


def test_a_long_module_with_a_reason_or_a_short_one_passes() -> None:
    body = "x = 1\n" * 5
    reason = '"""Does one thing.\n\nLong because it is one table of data.\n"""\n'
    assert unexplained_length(reason + body, max_lines=4) is None
    assert unexplained_length('"""Short."""\nx = 1\n', max_lines=4) is None


def test_a_long_function_or_method_is_caught_and_a_short_one_is_not() -> None:
    statements = "".join(f"    y{i} = {i}\n" for i in range(4))
    nested = "".join(f"        z{i} = {i}\n" for i in range(4))
    source = (
        f"def short():\n    return 1\n\n"
        f"def long():\n{statements}\n"
        f"class C:\n    async def method(self):\n{nested}\n"
        f"    def fine(self):\n        pass\n"
    )
    assert long_functions(source, max_lines=4) == [("long", 4, 5), ("C.method", 11, 5)]
    assert long_functions(source, max_lines=5) == []
