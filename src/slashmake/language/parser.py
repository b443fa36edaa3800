"""A recursive-descent parser for slash-command chains (its inverse, the printer, is :mod:`.printer`).

Stages arrive as a flat arrow-separated list; ``/if``, ``/try``, ``/catch``, ``/else`` and ``/end``
are markers that :class:`_Block` folds into nested :class:`Gate` and :class:`Try` nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from slashmake.errors import FlowSyntaxError, Source, Span
from slashmake.language import lexer as lx
from slashmake.language.deep import deep
from slashmake.language.lexer import Token
from slashmake.language.nodes import (
    Arg,
    Assign,
    Call,
    Flow,
    Gate,
    Option,
    Parallel,
    Stage,
    Sweep,
    Try,
    Value,
    Var,
)
from slashmake.language.printer import fmt_arg

KEYWORDS = {"if", "else", "end", "try", "catch", "fallback"}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# A command's name may start with a digit (`1-initialize-spec.md` is /1-initialize-spec in Droid).
_COMMAND_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# parallel[ inside parallel[, /if inside /if ...: deeper is a positioned error, never a RecursionError in a
# later stage (the resolver and printer walk the tree recursively; 64 levels is far beyond any real chain).
MAX_NESTING = 1000
# Look-alikes of '/' that a keyboard layout or a copied document produces (fullwidth, division, fraction).
_SLASHES = "／∕⁄╱⧸"


def parse(text: str, name: str = "<chain>", line_offset: int = 0, col_offset: int = 0) -> Flow:
    """Parse a whole chain; raise FlowSyntaxError with the position of the first mistake."""
    source = Source(name, text, line_offset, col_offset)
    parser = _Parser(list(lx.tokenize(source)), source)
    flow = deep(lambda: parser.flow(top=True))  # parallel[...] recurses once per bracket
    parser.expect(lx.EOF, "'→' between stages")
    return flow


def is_number(text: str) -> bool:
    """True when ``text`` is a decimal number as the language writes one."""
    return _NUMBER.fullmatch(text) is not None


@dataclass
class _Block:
    """An open ``/if`` or ``/try`` whose branches are still being filled."""

    head: Gate | Try
    span: Span
    then: list[Stage] = field(default_factory=list)
    orelse: list[Stage] | None = None
    label: str | None = None
    fresh: bool = True  # a /try that has not yet seen /catch or /else

    def branch(self) -> list[Stage]:
        return self.then if self.orelse is None else self.orelse

    def close(self) -> Stage:
        orelse = None if self.orelse is None else Flow(tuple(self.orelse))
        if isinstance(self.head, Gate):
            g = self.head
            return Gate(g.metric, g.op, g.threshold, Flow(tuple(self.then)), orelse, span=self.span)
        catch = Flow(tuple(self.then)) if self.label is not None else None
        return Try(self.head.call, self.label, catch, orelse, span=self.span)


class _Parser:
    def __init__(self, tokens: list[Token], source: Source) -> None:
        self.toks = tokens
        self.i = 0
        self.source = source
        self.depth = 0  # open parallel[...] brackets
        self.stacks: list[list[_Block]] = []  # the open /if and /try blocks of each enclosing flow

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def error(self, message: str, tok: Token | None = None) -> FlowSyntaxError:
        t = tok or self.tok
        found = "the end of the chain" if t.kind == lx.EOF else repr(t.text)
        return FlowSyntaxError(message.replace("{found}", found), t.span)

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found {{found}}")
        return self.take()

    def touching(self) -> bool:
        """The current token follows the previous one with no space between."""
        return not self.tok.spaced

    # -- flows ---------------------------------------------------------------------------------
    def flow(self, top: bool = False) -> Flow:
        start = self.tok.span
        if self.tok.kind in (lx.EOF, lx.PIPE, lx.RBRACK):
            raise self.error("expected a stage (a /command), found {found}")
        root: list[Stage] = []
        stack: list[_Block] = []
        self.stacks.append(stack)
        while True:
            self.stage(root, stack)
            if self.tok.kind != lx.ARROW:
                break
            self.take()
        self.stacks.pop()
        while stack:
            self.pop(root, stack)
        return Flow(tuple(root), span=start.merge(self.toks[self.i - 1].span))

    @staticmethod
    def pop(root: list[Stage], stack: list[_Block]) -> None:
        """Close the innermost block and add it to its parent's branch."""
        node = stack.pop().close()
        (stack[-1].branch() if stack else root).append(node)

    def stage(self, root: list[Stage], stack: list[_Block]) -> None:
        """Parse one stage, opening or closing blocks for the markers."""
        t = self.tok
        nxt = self.peek()
        if t.kind == lx.SLASH and nxt.kind == lx.WORD and nxt.text in KEYWORDS and not nxt.spaced:
            self.keyword(root, stack)
            return
        if stack and stack[-1].fresh and isinstance(stack[-1].head, Try):
            self.pop(root, stack)  # a /try followed by neither /catch nor /else is just a call
        node = self.plain_stage()
        (stack[-1].branch() if stack else root).append(node)

    def keyword(self, root: list[Stage], stack: list[_Block]) -> None:
        slash = self.take()
        word = self.take()
        span = slash.span.merge(word.span)
        kw = word.text
        if kw in ("else", "end"):
            if self.tok.kind == lx.COLON and self.touching():
                raise self.error(f"/{kw} takes no argument")
            self.close_for(kw, span, root, stack)
            return
        if self.tok.kind != lx.COLON or not self.touching():
            raise self.error(f"expected ':' after /{kw}, found {{found}}")
        self.take()
        if kw in ("if", "try"):
            self.open_fresh(root, stack)
            if self.nesting() >= MAX_NESTING:
                raise FlowSyntaxError(f"/{kw} nested more than {MAX_NESTING} deep (close some with /end)", span)
        if kw == "if":
            stack.append(_Block(self.gate_head(span), span))
        elif kw == "try":
            call = self.call()
            stack.append(_Block(Try(call, None, None, span=span), span.merge(call.span or span)))
        elif kw == "catch":
            if not stack or not isinstance(stack[-1].head, Try) or not stack[-1].fresh:
                raise FlowSyntaxError("/catch must follow a /try:... stage directly", span)
            label = self.expect(lx.WORD, "a label after /catch:")
            stack[-1].label = label.text
            stack[-1].fresh = False
        else:  # fallback
            if self.tok.kind != lx.WORD:
                raise self.error("expected a command name after /fallback:, found {found}")
            self.open_fresh(root, stack)
            call = self.call_rest(self.take(), span, fallback=True)
            (stack[-1].branch() if stack else root).append(call)

    def open_fresh(self, root: list[Stage], stack: list[_Block]) -> None:
        if stack and stack[-1].fresh and isinstance(stack[-1].head, Try):
            self.pop(root, stack)

    def close_for(self, kw: str, span: Span, root: list[Stage], stack: list[_Block]) -> None:
        if kw == "end":
            if not stack:
                raise FlowSyntaxError("/end without an open /if or /try", span)
            self.pop(root, stack)
            return
        while stack and stack[-1].orelse is not None:
            self.pop(root, stack)  # /else binds to the nearest gate still in its then-branch
        if not stack:
            raise FlowSyntaxError("/else without an open /if or /try", span)
        stack[-1].orelse = []
        stack[-1].fresh = False

    def plain_stage(self) -> Stage:
        t = self.tok
        if t.kind == lx.SLASH:
            call = self.call()
            if self.at_parallel():
                return self.sweep(call)
            return call
        if t.kind == lx.DOLLAR:
            return self.assign()
        if t.kind == lx.WORD and self.at_parallel():
            return self.parallel()
        if t.kind == lx.WORD and self.peek().kind == lx.COLON and not self.peek().spaced:
            call = self.call()  # droid:command, written without the slash
            if self.at_parallel():
                return self.sweep(call)
            return call
        if t.kind == lx.WORD:
            bare = t.text.lstrip(_SLASHES)
            what = f"'{t.text[0]}' is not '/'" if bare != t.text else "a command starts with '/'"
            raise FlowSyntaxError(f"'{t.text}' is not a stage: {what} (did you mean /{bare or t.text}?)", t.span)
        raise self.error("expected a stage (a /command), found {found}")

    def at_parallel(self) -> bool:
        return (
            self.tok.kind == lx.WORD
            and self.tok.text == "parallel"
            and self.peek().kind == lx.LBRACK
            and not self.peek().spaced
        )

    # -- calls ---------------------------------------------------------------------------------
    def call(self) -> Call:
        start = self.tok
        if start.kind == lx.SLASH:
            self.take()
            if not self.touching() or self.tok.kind != lx.WORD:
                raise self.error("expected a command name right after '/', found {found}")
            name = self.take()
            if name.text in KEYWORDS:
                raise FlowSyntaxError(f"/{name.text} cannot be used here", start.span.merge(name.span))
            return self.call_rest(name, start.span)
        if start.kind == lx.WORD and self.peek().kind == lx.COLON:
            droid = self.take()
            self.take()
            if not self.touching() or self.tok.kind != lx.WORD:
                raise self.error("expected a command name after 'droid:', found {found}")
            call = self.call_rest(self.take(), droid.span)
            return Call(call.name, call.args, call.options, droid=droid.text, span=call.span)
        raise self.error("expected a /command, found {found}")

    def call_rest(self, name: Token, start: Span, fallback: bool = False) -> Call:
        self.check_name(name)
        args: list[Arg] = []
        while self.tok.kind == lx.COLON and self.touching():
            self.take()
            args.append(self.arg())
        while self.tok.kind in (lx.WORD, lx.STRING, lx.DOLLAR) and not self.at_parallel():
            args.append(self.url(self.arg()))
        options: list[Option] = []
        while self.tok.kind == lx.OPTION:
            options.append(self.option())
        if self.tok.kind == lx.COLON and not options:
            raise self.error("unexpected ':': write the arguments as /cmd:a:b or as /cmd a b, not both")
        if self.tok.kind in (lx.WORD, lx.STRING, lx.DOLLAR, lx.COLON) and not self.at_parallel():
            raise self.error("unexpected {found}: arguments go before --options")
        end = self.toks[self.i - 1].span
        return Call(name.text, tuple(args), tuple(options), fallback=fallback, span=start.merge(end))

    def url(self, arg: Arg) -> Arg:
        """``https://host/a?b=c`` after a space is one value (as an agent's ``$ARGUMENTS`` takes it)."""
        if not (arg.key is None and isinstance(arg.value, str) and self.touching() and self.tok.kind == lx.COLON
                and self.peek().kind == lx.SLASH and not self.peek().spaced):
            return arg
        parts, span = [arg.value], arg.span
        while self.touching() and self.tok.kind in (lx.COLON, lx.SLASH, lx.WORD, lx.EQ, lx.OP):
            parts.append(self.take().text)
            span = self.toks[self.i - 1].span if span is None else span.merge(self.toks[self.i - 1].span)
        return Arg("".join(parts), span=span)

    def check_name(self, tok: Token) -> None:
        if not _COMMAND_NAME.fullmatch(tok.text):
            raise FlowSyntaxError(f"'{tok.text}' is not a valid command name", tok.span)

    def value(self) -> tuple[Value, Span]:
        t = self.tok
        if t.kind in (lx.WORD, lx.STRING):
            self.take()
            return t.text, t.span
        if t.kind == lx.DOLLAR:
            self.take()
            if not self.touching() or self.tok.kind != lx.WORD:
                raise self.error("expected a variable name after '$', found {found}")
            name = self.take()
            return Var(name.text, span=t.span.merge(name.span)), t.span.merge(name.span)
        raise self.error("expected a value, found {found}")

    def arg(self) -> Arg:
        value, span = self.value()
        if self.tok.kind == lx.EQ and self.touching():
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise self.error("the name before '=' must be a plain word")
            self.take()
            if not self.touching():
                raise self.error("expected a value right after '=', found {found}")
            val, vspan = self.value()
            return Arg(val, key=value, span=span.merge(vspan))
        return Arg(value, span=span)

    def option(self) -> Option:
        opt = self.take()
        if self.tok.kind not in (lx.WORD, lx.STRING, lx.DOLLAR) or self.at_parallel():
            return Option(opt.text, None, span=opt.span)
        value, span = self.value()
        if isinstance(value, str):
            # `--parameters sigma:0.1,0.2;lr:1e-3` is one value: join the touching pieces.
            parts = [value]
            while self.touching() and self.tok.kind in (lx.COLON, lx.EQ, lx.WORD, lx.STRING):
                parts.append(self.take().text)
                span = span.merge(self.toks[self.i - 1].span)
            value = "".join(parts)
        return Option(opt.text, value, span=opt.span.merge(span))

    # -- other stages --------------------------------------------------------------------------
    def sweep(self, call: Call) -> Sweep:
        self.take()  # parallel
        self.take()  # [
        values = [self.arg()]
        while self.tok.kind == lx.PIPE:
            self.take()
            values.append(self.arg())
            first = next((v for v in values[:-1] if fmt_arg(v) == fmt_arg(values[-1])), None)
            if first is not None and first.span is not None and values[-1].span is not None:
                line, col = first.span.position()
                raise FlowSyntaxError(f"duplicate sweep value {fmt_arg(values[-1])} (first given at {line}:{col})",
                                      values[-1].span)
        end = self.expect(lx.RBRACK, "'|' or ']' in parallel[...]")
        return Sweep(call, tuple(values), span=(call.span or end.span).merge(end.span))

    def nesting(self) -> int:
        """How deep the next stage sits: open brackets plus open blocks."""
        return self.depth + sum(len(s) for s in self.stacks)

    def parallel(self) -> Parallel:
        if self.nesting() >= MAX_NESTING:
            raise self.error(f"parallel[...] nested more than {MAX_NESTING} deep")
        start = self.take()
        self.take()
        self.depth += 1
        branches = [self.flow()]
        while self.tok.kind == lx.PIPE:
            self.take()
            branches.append(self.flow())
        end = self.expect(lx.RBRACK, "'|' or ']' in parallel[...]")
        self.depth -= 1
        return Parallel(tuple(branches), span=start.span.merge(end.span))

    def gate_head(self, span: Span) -> Gate:
        if self.tok.kind not in (lx.WORD, lx.DOLLAR):
            raise self.error("expected a metric after /if:, found {found}")
        metric, mspan = self.value()
        if isinstance(metric, str) and not _NAME.fullmatch(metric):
            raise FlowSyntaxError(f"'{metric}' is not a metric name", mspan)
        op: str | None = None
        threshold: Value | None = None
        if self.tok.kind in (lx.OP, lx.EQ):
            if self.tok.kind == lx.EQ:
                raise self.error("use '==' to compare in a gate")
            op = self.take().text
            if self.tok.kind not in (lx.WORD, lx.DOLLAR):
                raise self.error("expected a number, true, false or $variable after the comparison, found {found}")
            tok = self.tok
            threshold, tspan = self.value()
            if isinstance(threshold, str) and not (is_number(threshold) or threshold in ("true", "false")):
                raise FlowSyntaxError(f"'{threshold}' is not a number, true, false or $variable", tok.span)
            span = span.merge(tspan)
        return Gate(metric, op, threshold, Flow(()), span=span.merge(mspan))

    def assign(self) -> Assign:
        dollar = self.take()
        if not self.touching() or self.tok.kind != lx.WORD:
            raise self.error("expected a variable name after '$', found {found}")
        name = self.take()
        if self.tok.kind != lx.EQ:
            raise self.error(f"expected '=' after ${name.text} (a variable alone is not a stage), found {{found}}")
        self.take()
        t = self.tok
        if t.kind == lx.RESULT:
            self.take()
            return Assign(name.text, "result", "<result>", span=dollar.span.merge(t.span))
        if t.kind != lx.WORD:
            raise self.error("expected a number, true, false, <result> or a metric name, found {found}")
        self.take()
        const = is_number(t.text) or t.text in ("true", "false")
        if not const and not _NAME.fullmatch(t.text):
            raise FlowSyntaxError(f"'{t.text}' is not a metric name", t.span)
        return Assign(name.text, "const" if const else "metric", t.text, span=dollar.span.merge(t.span))
