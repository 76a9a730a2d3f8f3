"""What a campaign template may say, checked before it runs, with a line for every problem.

Staff get `{{ … }}`, `{% if %}` and `{% for %}`, the documented variables, the filters,
tests and string methods of mailer.sandbox, and list literals only after `in`. Nothing that
binds a name (`{% set %}`, `{% with %}`, macros) is there: with names a string could be
doubled in a chain of lines, and without them every value stays bounded by what the
sandbox's operations allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches

from jinja2 import Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.visitor import NodeTransformer

from mailer import sandbox


@dataclass(frozen=True)
class Problem:
    """Why a part of a draft was refused: the part, the line in it (if known), a message."""

    part: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.part}, line {self.line}" if self.line else self.part
        return f"{where}: {self.message}"


#: First names every part of a draft is also rendered for when it is saved, besides the
#: sample, the longest recipient and the nameless one: what real audiences have and a sample
#: misses. A template that divides by `first_name|length - 3` or indexes `first_name[3]` is
#: refused here, not found out at send time for every Bob (the send would record each such
#: contact failed, `render_failed`). Names of each locale's script, and scripts that write
#: right to left or without spaces, since string methods and lengths behave differently there.
EDGE_NAMES: tuple[tuple[str, str], ...] = (
    ("a one-letter name", "A"),
    ("a two-letter name", "Al"),
    ("a three-letter name", "Bob"),
    ("a very long name", "Wolfeschlegelsteinhausenbergerdorff" * 2 + "Maximilian"),
    ("a hyphenated name", "Jean-Luc"),
    ("a name with an apostrophe", "O'Brien"),
    ("an English name", "Alexander"),
    ("a one-letter Cyrillic name", "Я"),
    ("a two-letter Cyrillic name", "Ян"),
    ("a three-letter Cyrillic name", "Лев"),
    ("a Russian name", "Екатерина"),
    ("a Chinese name", "王秀英"),
    ("a Japanese name", "さくら"),
    ("an Arabic name (right to left)", "محمد"),
    ("a Hebrew name (right to left)", "דוד"),
)


def edge_samples(base: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """`base` (a recipient's values) with each of EDGE_NAMES as its first name."""
    return [(f"{who}, {name}", {**base, "first_name": name}) for who, name in EDGE_NAMES]


_TAG_NAMES: dict[type[nodes.Node], str] = {
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.With: "{% with %}",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Block: "{% block %}",
    nodes.Dict: "a dictionary {…}",
}
_ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.For,
    nodes.Name,
    nodes.Const,
    nodes.Tuple,
    nodes.List,
    nodes.CondExpr,
    nodes.BinExpr,
    nodes.UnaryExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Call,
    nodes.Keyword,
)
_ATTRIBUTES = sandbox.STR_METHODS | sandbox.LOOP_ATTRIBUTES


def _attribute(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    return None


def _filter(name: str) -> str:
    return sandbox.FILTER_ALIASES.get(name, name)


def _list_slots(node: nodes.Node) -> set[int]:
    """The children of `node` that may be a list literal: what follows `in`, and for's."""
    if isinstance(node, nodes.For):
        return {id(node.iter), id(node.target)}
    if isinstance(node, nodes.Operand) and node.op in ("in", "notin"):
        return {id(node.expr)}
    if isinstance(node, nodes.Test) and node.name == "in":
        return {id(arg) for arg in node.args}
    return set()


def _problem(node: nodes.Node) -> str | None:
    """What is wrong with `node` itself, not counting its children."""
    for kind, label in _TAG_NAMES.items():
        if isinstance(node, kind):
            return f"{label} is not available in campaign email"
    if not isinstance(node, _ALLOWED):
        return f"{type(node).__name__} is not available"
    attr = _attribute(node)
    if attr is not None and attr not in _ATTRIBUTES:
        methods = ", ".join(f".{m}()" for m in sorted(sandbox.STR_METHODS))
        return f"'.{attr}' is not allowed; text offers {methods}"
    if isinstance(node, nodes.For) and node.recursive:
        return "recursive loops are not available"
    filter_name = (
        sandbox.FILTER_ALIASES.get(node.name, node.name) if isinstance(node, nodes.Filter) else ""
    )
    if isinstance(node, nodes.Filter) and filter_name not in sandbox.FILTERS:
        return f"filter '{node.name}' is not available ({', '.join(sorted(sandbox.FILTERS))})"
    if isinstance(node, nodes.Test) and node.name not in sandbox.TESTS:
        return f"test '{node.name}' is not available"
    if isinstance(node, nodes.Call) and not isinstance(node.node, nodes.Getattr):
        return "only text methods can be called, like .upper()"
    if isinstance(node, nodes.Call | nodes.Filter) and (node.dyn_args or node.dyn_kwargs):
        return "*args and **kwargs are not available"
    return None


def _walk(node: nodes.Node, part: str, problems: list[Problem], list_ok: bool = False) -> None:
    stored = isinstance(node, nodes.Tuple) and node.ctx == "store"  # for a, b in …
    if isinstance(node, nodes.List | nodes.Tuple) and not stored and not list_ok:
        problems.append(Problem(part, node.lineno, "a list can only follow 'in'"))
        return
    message = _problem(node)
    if message and not isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Call):
        problems.append(Problem(part, getattr(node, "lineno", None), message))
        return
    # In a chain like ''.__class__.__mro__ name the first wrong step, not every one.
    before = len(problems)
    slots = _list_slots(node)
    for child in node.iter_child_nodes():
        if isinstance(node, nodes.List | nodes.Tuple):
            _walk(child, part, problems)  # no list in a list
        else:
            _walk(child, part, problems, id(child) in slots)
    if message and len(problems) == before:
        problems.append(Problem(part, node.lineno, message))


def check_source(
    part: str, source: str, env: sandbox.CampaignSandbox, allowed: frozenset[str]
) -> tuple[nodes.Template | None, list[Problem]]:
    """Parse `source` and check it statically: syntax, tags, names, attributes, filters."""
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        return None, [Problem(part, exc.lineno, exc.message or "syntax error")]
    except RecursionError:
        return None, [Problem(part, None, "expressions are nested too deeply")]
    problems: list[Problem] = []
    _walk(ast, part, problems)
    try:
        undeclared = meta.find_undeclared_variables(ast)
    except TemplateError:  # an unknown filter or test, already reported
        undeclared = set()
    for name in sorted(undeclared - allowed):
        close = get_close_matches(name, sorted(allowed), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        message = f"unknown variable '{name}'{hint} (available: {', '.join(sorted(allowed))})"
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), None)
        problems.append(Problem(part, line, message))
    problems.sort(key=lambda p: p.line or 0)
    return (None if problems else ast), problems


class _Bound(NodeTransformer):
    """Route every loop through the message's budget and every `~` through a bounded join."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(
            node.iter, sandbox.LOOP_BUDGET, [], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, sandbox.JOIN, [], [], None, None, lineno=node.lineno)


def compile_checked(
    part: str, source: str, env: sandbox.CampaignSandbox, allowed: frozenset[str]
) -> tuple[Template | None, list[Problem]]:
    """Check `source`, then compile it with its loops and joins bounded."""
    ast, problems = check_source(part, source, env, allowed)
    if ast is None:
        return None, problems
    bounded = _Bound().visit(ast)
    bounded.set_environment(env)
    try:
        return env.from_string(bounded), []
    except TemplateSyntaxError as exc:
        return None, [Problem(part, exc.lineno, exc.message or "syntax error")]
    except (SyntaxError, RecursionError):  # Python's own limit, about 20 blocks deep
        return None, [Problem(part, None, "ifs and loops are nested too deeply")]
