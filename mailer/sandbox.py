"""The sandbox that runs templates written by marketing staff, and how a render is bounded.

Jinja's ImmutableSandboxedEnvironment stops attribute tricks; on top of it staff get a small
language (checked statically by mailer.template_checks): a few filters and tests, the string
methods listed below, no globals. Everything that could make a render big or slow is bounded
where it happens, so no input can do it either: arithmetic, `~`, filters and method calls
refuse results past MAX_VALUE_CHARS before or as they build them (`'x' * 10**9` and
`2 ** (10**8)` never reach C), lists can't be built or repeated, loops draw from a budget per
message that also carries a deadline, and renders stop once their output passes a bound.
"""

from __future__ import annotations

import functools
import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from types import FrameType, MappingProxyType, TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as JINJA_TESTS
from jinja2.utils import pass_context, pass_eval_context

__all__ = ["SecurityError"]

STR_METHODS = frozenset(
    {"capitalize", "endswith", "lower", "lstrip", "rstrip", "startswith", "strip", "title", "upper"}
)
LOOP_ATTRIBUTES = frozenset({"first", "index", "index0", "last", "length", "revindex", "revindex0"})

# None of these takes a callable or an attribute name (what |attr, |map and |format did in
# the CVEs); |safe is left out because it would let a contact's name through as HTML.
FILTERS: Mapping[str, str] = MappingProxyType(
    {
        "capitalize": "First letter upper case, the rest lower case",
        "default": "A fallback when the value is empty: first_name|default('friend', true)",
        "escape": "Escape for HTML (done anyway in the HTML part)",
        "first": "The first character",
        "last": "The last character",
        "length": "The number of characters",
        "lower": "Lower case",
        "title": "Each Word Capitalised",
        "trim": "Without surrounding spaces",
        "truncate": "Shortened to a length with an ellipsis: truncate(20)",
        "upper": "Upper case",
        "urlencode": "Percent-encoded for a link's query string",
    }
)
FILTER_ALIASES: Mapping[str, str] = MappingProxyType(
    {"d": "default", "e": "escape", "count": "length"}
)
TESTS = frozenset(
    {"defined", "undefined", "none", "string", "number", "lower", "upper", "in"}
    | {"eq", "ne", "lt", "le", "gt", "ge", "==", "!=", "<", "<=", ">", ">="}
)

MAX_VALUE_CHARS = 10_000
"""Longest string one operation may build; nothing staff write needs more."""
MAX_NUMBER_BITS = 256
"""Largest integer arithmetic may build, so `2 ** (10**8)` is refused before it is computed."""

LOOP_BUDGET = "_loop_budget"
"""Filter mailer.template_checks wraps around every loop's iterable; staff can't name it."""
JOIN = "_bounded_join"
"""Filter mailer.template_checks puts in place of every `~`; staff can't name it."""


class OutputTooLarge(TemplateError):
    """A render produced more than its bound."""


class DeadlineExceeded(TemplateError):
    """A render ran past its time bound."""


class _Budget:
    """What the message being rendered may still spend on loops."""

    __slots__ = ("allowed", "deadline", "left", "seconds")

    def __init__(self, iterations: int, seconds: float) -> None:
        self.left = self.allowed = iterations
        self.seconds = seconds
        self.deadline = time.perf_counter() + seconds


# A ContextVar, so each thread (and each asyncio task) renders with its own budget.
_budget: ContextVar[_Budget | None] = ContextVar("loop_budget", default=None)


def start_budget(iterations: int, seconds: float) -> Token[_Budget | None]:
    """Give the renders that follow in this thread `iterations` loop turns and `seconds`."""
    return _budget.set(_Budget(iterations, seconds))


def end_budget(token: Token[_Budget | None]) -> None:
    """Forget the budget `start_budget` set."""
    _budget.reset(token)


@pass_context  # never constant-folded at compile time, so every turn is counted at render
def _loop_budget(context: Context, iterable: Any) -> Iterator[Any]:
    budget = _budget.get()
    if budget is None:
        raise SecurityError("campaign templates render only with a loop budget")
    for item in iterable:
        budget.left -= 1
        if budget.left < 0:
            raise SecurityError(f"loops ran more than {budget.allowed} times in one message")
        # A clock read costs about what the rest of the turn does; every 64th is enough.
        if budget.left % 64 == 0 and time.perf_counter() > budget.deadline:
            raise DeadlineExceeded(f"rendering took longer than {budget.seconds:g} s")
        yield item


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value.bit_length() > MAX_NUMBER_BITS
    return isinstance(value, str) and len(value) > MAX_VALUE_CHARS


def _refuse_big(value: Any) -> Any:
    if _too_big(value):
        raise SecurityError(f"a value longer than {MAX_VALUE_CHARS} characters")
    return value


@pass_eval_context
def _bounded_join(eval_ctx: EvalContext, items: list[Any]) -> str:
    for item in items:
        if isinstance(item, list | tuple | dict):  # their text could be of any size
            raise SecurityError("only text and numbers can be joined with ~")
    return _refuse_big((markup_join if eval_ctx.autoescape else str_join)(items))


def _bounded(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja's pass_environment / pass_eval_context marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return _refuse_big(function(*args, **kwargs))

    return bounded


def _would_be_huge(operator: str, left: Any, right: Any) -> str | None:
    """Why `left operator right` would pass the bounds, told without computing it."""
    if operator == "*" and isinstance(right, str):
        left, right = right, left
    if isinstance(left, bool) or isinstance(right, bool):
        return None
    if operator == "*" and isinstance(left, str) and isinstance(right, int):
        if len(left) * max(right, 0) > MAX_VALUE_CHARS:
            return f"a value longer than {MAX_VALUE_CHARS} characters"
    elif isinstance(left, int) and isinstance(right, int):
        if operator == "*":
            bits = left.bit_length() + right.bit_length()
        elif operator == "**" and right > 0 and abs(left) > 1:
            bits = right * left.bit_length()
        else:
            bits = 0
        if bits > MAX_NUMBER_BITS:
            return f"a number larger than 2**{MAX_NUMBER_BITS}"
    # Adding is linear in its operands, which are bounded; a float power overflows at once.
    return None


class CampaignSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, narrowed to what campaign templates need."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self.globals.clear()  # range, lipsum, dict, cycler, joiner, namespace
        names = {**{name: name for name in FILTERS}, **FILTER_ALIASES}
        self.filters = {name: _bounded(JINJA_FILTERS[real]) for name, real in names.items()}
        self.filters[LOOP_BUDGET] = _loop_budget
        self.filters[JOIN] = _bounded_join
        self.tests = {name: JINJA_TESTS[name] for name in TESTS}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Allow the listed str methods and loop.* attributes; nothing else, on nothing else."""
        if isinstance(obj, str):
            return attr in STR_METHODS
        return isinstance(obj, LoopContext) and attr in LOOP_ATTRIBUTES

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Offer no sandboxed str.format: is_safe_attribute refuses format outright."""
        return None

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call as the sandbox does, then refuse an oversized result."""
        return _refuse_big(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse arithmetic whose result would be huge before Python computes it."""
        if isinstance(left, list | tuple | dict) or isinstance(right, list | tuple | dict):
            raise SecurityError("lists can't be added or repeated")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("'%' formatting is not allowed; join text with ~")
        reason = _would_be_huge(operator, left, right)
        if reason:
            raise SecurityError(reason)
        return _refuse_big(self.binop_table[operator](left, right))


HTML = CampaignSandbox(autoescape=True)
TEXT = CampaignSandbox(autoescape=False)


def run(template: Template, variables: Mapping[str, Any], max_chars: int) -> str:
    """Render, stopping as soon as the output passes `max_chars`; needs a loop budget."""
    chunks = []
    size = 0
    for chunk in template.root_render_func(template.new_context(dict(variables))):
        size += len(chunk)
        if size > max_chars:
            raise OutputTooLarge(f"the result is longer than {max_chars} characters")
        chunks.append(chunk)
    return "".join(chunks)


def template_line(exc: BaseException, template: Template) -> int | None:
    """The template line an exception was raised at, as Jinja's own tracebacks show it."""
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_template__") is template:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def run_with_deadline(
    template: Template, variables: Mapping[str, Any], max_chars: int, seconds: float
) -> str:
    """Render under a hard deadline, for the checks made when a draft is compiled.

    The deadline is a trace function: it sees every line the template's generated code runs,
    so it stops any Python-level work, loops that print nothing included, not only what the
    loop budget counts. sys.settrace is per thread, so it works in any thread of a threaded
    server, where SIGALRM (main thread only) would not; it can't interrupt one long C call,
    which is why the operations above refuse huge results before building them. Tracing
    makes a render several times slower, so sends rely on the budget alone.

    The deadline counts this thread's CPU time, not the wall clock: what a template costs is
    the same on a busy server, where other processes' turns would otherwise count against it.
    A garbage collection that happens to run during the render is the process's cost, not the
    template's: its time is left out, and the deadline is only ever raised in the template's
    own code, never inside a finaliser or weakref callback the collector (or a dropped
    reference) runs meanwhile, where the exception would be lost and the render go on.
    """
    me = threading.get_ident()
    collecting: list[float] = []  # the collector's start time while one runs in this thread
    excluded = [0.0]

    def collector(phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != me:
            return
        if phase == "start":
            collecting.append(time.thread_time())
        elif collecting:
            excluded[0] += time.thread_time() - collecting.pop()

    end = time.thread_time() + seconds

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if (
            not collecting
            and "__jinja_template__" in frame.f_globals
            and time.thread_time() - excluded[0] > end
        ):
            raise DeadlineExceeded(f"rendering took longer than {seconds:g} s")
        return tracer

    gc.callbacks.append(collector)
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return run(template, variables, max_chars)
    finally:
        sys.settrace(previous)
        gc.callbacks.remove(collector)
