"""Model formulas and subsets from config, read as data: parsed, walked against a whitelist, never run.

A config file is written by one person and run by another, so nothing in it may execute code.
A formula is split at its ``~``, parsed with :mod:`ast` (patsy's ``:`` read as an interaction)
and every node checked: only declared variable names, the intercept (``0``, ``1``), ``+``,
``-``, ``*``, ``/``, ``:``, ``**`` with a whole-number power, ``C(var[, Treatment(level)])``,
``Q('var')`` and the transforms of :data:`TRANSFORMS` (over variables and numbers). The factors
patsy will evaluate are then walked a second time, exactly as patsy splits them, so that what
reaches patsy is what was checked. A subset is a small boolean grammar (comparisons, ``in``,
``not in``, ``&``, ``|``, ``~``, parentheses, literals, declared variables) evaluated here on
the frame, never by ``DataFrame.eval``/``query``. Anything else is a :class:`ConfigError`
naming the model, the offending text and what is allowed.
"""

from __future__ import annotations

import ast
import difflib
import io
import operator
import tokenize
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import patsy

from ..errors import ConfigError

__all__ = [
    "EVAL_NAMESPACE",
    "FORMULA_ALLOWED",
    "SUBSET_ALLOWED",
    "TRANSFORMS",
    "Formula",
    "Subset",
    "evaluate_subset",
    "parse_formula",
    "parse_subset",
]

#: Transforms a formula may apply to a variable: patsy's stateful transforms and numpy's
#: elementwise functions (written ``np.log(x)``), plus ``I(...)`` for arithmetic.
NUMPY_TRANSFORMS = ("log", "log1p", "log2", "log10", "exp", "sqrt", "square", "abs")
PATSY_TRANSFORMS = ("center", "standardize", "scale")
TRANSFORMS = ("I", *PATSY_TRANSFORMS, *(f"np.{f}" for f in NUMPY_TRANSFORMS))
#: The only names a checked formula's factors see besides patsy's builtins: ``np`` holds just
#: the functions above, so even an unchecked ``np.<anything>`` would find nothing to run.
EVAL_NAMESPACE = {"np": SimpleNamespace(**{f: getattr(np, f) for f in NUMPY_TRANSFORMS})}

FORMULA_ALLOWED = (
    "declared variable names; + and - between terms; 0 or 1 for the intercept; interactions a:b "
    "and a*b; (a + b)**2 with a whole power; a/b; C(var) or C(var, Treatment(level)) with a "
    "literal level; Q('var'); the transforms "
    + ", ".join(f"{t}()" for t in TRANSFORMS)
    + " applied to variables and numbers (with + - * / ** inside)"
)
SUBSET_ALLOWED = (
    "comparisons (==, !=, <, <=, >, >=) of declared variables with literals (text, numbers, "
    "True/False), 'var in [...]' and 'var not in [...]' with a list of literals, & (and), "
    "| (or), ~ (not) and parentheses"
)
_ALLOWED = {"formula": FORMULA_ALLOWED, "subset": SUBSET_ALLOWED}

#: Largest power in a formula: ``(a + b + c)**3`` is already every three-way interaction, and a
#: power is a number never evaluated here, so a huge one must not reach Python's arithmetic.
MAX_POWER = 10
_INTERACTION = "@"  # stands for patsy's ':' while Python parses the formula


@dataclass(frozen=True)
class Formula:
    """A checked formula: its text, outcome (left of ``~``, or None) and right-hand variables."""

    text: str
    outcome: str | None
    lhs: tuple[str, ...]
    rhs: tuple[str, ...]
    #: ``(variable, level)`` of every ``C(var, Treatment(level))``, to check the level exists
    treatments: tuple[tuple[str, object], ...] = ()

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.lhs, *self.rhs)))


@dataclass(frozen=True)
class Subset:
    """A checked subset expression; :func:`evaluate_subset` applies it to a frame."""

    text: str
    tree: ast.Expression  # parsed from ``source``: the text with & | ~ read as and/or/not
    source: str
    variables: tuple[str, ...]
    #: ``(variable, literal)`` for every comparison of a variable with a literal, to check levels
    literals: tuple[tuple[str, object], ...]


def _who(model: str | None) -> str:
    return f"model {model!r}: " if model else ""


def _tokens(text: str, what: str, model: str | None) -> list[tokenize.TokenInfo]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ConfigError(
            f"{_who(model)}{what} {text!r} cannot be read ({exc}); a {what} may use "
            f"{_ALLOWED[what]}"
        ) from None
    for tok in tokens:
        if tok.type == tokenize.ERRORTOKEN and tok.string.strip():
            raise ConfigError(
                f"{_who(model)}{what} {text!r}: {tok.string!r} is not allowed; "
                f"a {what} may use {_ALLOWED[what]}"
            )
        if tok.type == tokenize.OP and tok.string in ("@", "@=", ":=", ";"):
            kind = {"@": "a reference to a Python variable", ":=": "an assignment"}
            raise ConfigError(
                f"{_who(model)}{what} {text!r}: {tok.string!r} "
                f"({kind.get(tok.string, 'not an operator of the grammar')}) is not allowed; "
                f"a {what} may use {_ALLOWED[what]}"
            )
    return tokens


def _one_line(text: object, what: str, model: str | None) -> str:
    if not isinstance(text, str):
        raise ConfigError(f"{_who(model)}{what} must be text, not {text!r}")
    line = text.strip()
    if not line:
        raise ConfigError(f"{_who(model)}{what} is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in line):
        # what is checked must be exactly what patsy reads: one line, no control characters
        raise ConfigError(
            f"{_who(model)}{what} {line!r} spans lines or holds control characters; "
            "write it on one line"
        )
    return line


# -- formulas -------------------------------------------------------------------------------
class _Walker:
    """Walks the parsed text of a formula or subset (``source``, as rewritten for Python's
    parser) of the config's ``text``, against the ``declared`` variables."""

    kind = ""  # what is walked, for messages
    allowed = ""  # what it may use, for messages

    def __init__(
        self, text: str, source: str, declared: Collection[str] | None, model: str | None
    ) -> None:
        self.text, self.source, self.declared, self.model = text, source, declared, model
        self.found: list[str] = []  # the variables named, in order
        # (variable, value) pairs named with a variable: a formula's Treatment references, a
        # subset's compared literals
        self.values: list[tuple[str, object]] = []

    def shown(self, node: ast.AST) -> str:
        """``node`` as the user wrote it."""
        raise NotImplementedError

    def fail(self, node: ast.AST, why: str) -> ConfigError:
        return ConfigError(
            f"{_who(self.model)}{self.kind} {self.text!r}: {self.shown(node)!r} {why}; "
            f"a {self.kind} may use {self.allowed}"
        )

    def check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("_"):
            raise self.fail(node, "is not allowed (names starting with '_' are never variables)")


class _FormulaWalker(_Walker):
    """Walks a formula side (or one patsy factor) and collects the variables it names."""

    kind, allowed = "formula", FORMULA_ALLOWED
    factor_node: ast.AST | None = None  # the term being walked, for messages

    def shown(self, node: ast.AST) -> str:
        token = ast.get_source_segment(self.source, node) or type(node).__name__
        return token.replace(_INTERACTION, ":")

    def variable(self, node: ast.AST, name: str) -> None:
        self.check_name(node, name)
        if self.declared is not None and name not in self.declared:
            term = ast.get_source_segment(self.source, self.factor_node or node) or name
            raise ConfigError(
                f"{_who(self.model)}formula {self.text!r}: term "
                f"{term.replace(_INTERACTION, ':')!r} uses {name!r}, which "
                "is not a declared variable (not a column of the data)"
                + _suggest(name, self.declared)
            )
        self.found.append(name)

    def one_variable(self, node: ast.AST, why: str) -> None:
        """``node`` is one variable: a name, or ``Q("name")``; otherwise an error saying ``why``."""
        if isinstance(node, ast.Call) and _call_name(node) == "Q":
            self.quoted(node)
        elif isinstance(node, ast.Name):
            self.variable(node, node.id)
        else:
            raise self.fail(node, why)

    # terms: + - * / : ** between terms, intercept, variables and factors
    def term(self, node: ast.AST) -> None:
        if isinstance(node, ast.BinOp):
            ops = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult)
            if isinstance(node.op, ops):
                self.term(node.left)
                self.term(node.right)
                return
            if isinstance(node.op, ast.Pow):
                self.term(node.left)
                power = node.right
                if not (
                    isinstance(power, ast.Constant)
                    and type(power.value) is int
                    and 1 <= power.value <= MAX_POWER
                ):
                    raise self.fail(power, f"is not a whole-number power from 1 to {MAX_POWER}")
                return
            raise self.fail(node, "uses an operator formulas do not have")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self.term(node.operand)
            return
        if isinstance(node, ast.Constant):
            if type(node.value) is int and node.value in (0, 1):
                return
            raise self.fail(node, "is not allowed as a term (only 0 or 1, for the intercept)")
        self.factor_node = node
        self.factor(node)

    # factors: what patsy evaluates
    def factor(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.variable(node, node.id)
            return
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if node.keywords and name != "C" or any(k.arg is None for k in node.keywords):
                raise self.fail(node, "passes keyword or ** arguments that are not allowed")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail(node, "passes * arguments, which are not allowed")
            if name == "C":
                self.categorical(node)
                return
            if name == "Q":
                self.quoted(node)
                return
            if name in TRANSFORMS:
                if len(node.args) != 1:
                    raise self.fail(node, f"must apply {name}() to exactly one expression")
                self.arithmetic(node.args[0])
                return
            raise self.fail(node.func, "is not an allowed function")
        raise self.fail(node, _kind(node))

    def categorical(self, node: ast.Call) -> None:
        if not 1 <= len(node.args) <= 2 or node.keywords:
            raise self.fail(node, "must be C(var) or C(var, Treatment(level))")
        first = node.args[0]
        self.one_variable(first, "is not a variable name (C() takes one variable)")
        if len(node.args) == 2:
            contrast = node.args[1]
            ok = isinstance(contrast, ast.Call) and _call_name(contrast) == "Treatment"
            if ok:
                values = [*contrast.args, *(k.value for k in contrast.keywords)]
                ok = (
                    len(values) == 1
                    and all(k.arg == "reference" for k in contrast.keywords)
                    and _literal(values[0])
                )
            if not ok:
                raise self.fail(contrast, "is not Treatment(level) with a literal level")
            self.values.append((self.found[-1], _value(values[0])))

    def quoted(self, node: ast.Call) -> None:
        if (
            len(node.args) != 1
            or node.keywords
            or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
        ):
            raise self.fail(node, "must be Q('variable name')")
        self.variable(node, node.args[0].value)

    def arithmetic(self, node: ast.AST) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            self.arithmetic(node.left)
            power = node.right
            if not (
                isinstance(power, ast.Constant)
                and type(power.value) in (int, float)
                and abs(power.value) <= MAX_POWER
            ):
                raise self.fail(power, f"is not a number from -{MAX_POWER} to {MAX_POWER}")
        elif isinstance(node, ast.BinOp) and isinstance(
            node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)
        ):
            self.arithmetic(node.left)
            self.arithmetic(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self.arithmetic(node.operand)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            pass
        elif isinstance(node, ast.Name):
            self.variable(node, node.id)
        elif isinstance(node, ast.Call) and _call_name(node) == "Q":
            self.quoted(node)
        else:
            raise self.fail(node, "is not allowed inside a transform (variables and numbers only)")


def _call_name(node: ast.Call) -> str | None:
    """``C``, ``np.log``, ...: a plain name or ``np.<name>``; None for anything else."""
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np":
        return f"np.{f.attr}"
    return None


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
        return isinstance(node, ast.Constant) and type(node.value) in (int, float)
    return isinstance(node, ast.Constant) and type(node.value) in (str, int, float, bool)


def _kind(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "is an attribute access, which is not allowed",
        ast.Subscript: "is a subscript, which is not allowed",
        ast.Lambda: "is a lambda, which is not allowed",
        ast.JoinedStr: "is an f-string, which is not allowed",
        ast.NamedExpr: "is an assignment, which is not allowed",
        ast.Starred: "is a starred expression, which is not allowed",
        ast.ListComp: "is a comprehension, which is not allowed",
        ast.SetComp: "is a comprehension, which is not allowed",
        ast.DictComp: "is a comprehension, which is not allowed",
        ast.GeneratorExp: "is a comprehension, which is not allowed",
        ast.Call: "is a function call, which is not allowed here",
        ast.BoolOp: "uses and/or, which is not allowed",
        ast.Compare: "is a comparison, which is not allowed here",
        ast.Constant: "is a literal, which is not allowed here",
    }
    for cls, why in kinds.items():
        if isinstance(node, cls):
            return why
    return f"is not allowed (a {type(node).__name__} expression)"


def _suggest(name: str, declared: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(map(str, declared)), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _parse(source: str, text: str, what: str, model: str | None) -> ast.Expression:
    try:
        return ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise ConfigError(f"{_who(model)}{what} {text[:80]!r}... is too deeply nested") from None
    except SyntaxError as exc:
        raise ConfigError(
            f"{_who(model)}{what} {text!r} cannot be read ({exc.msg}); a {what} may use "
            f"{_ALLOWED[what]}"
        ) from None


def parse_formula(
    formula: object, declared: Collection[str] | None = None, *, model: str | None = None
) -> Formula:
    """Check a model formula against the grammar and, when given, the declared variables.

    ``declared=None`` checks the grammar alone (any name not starting with ``_`` passes): how the
    models file is read before the instrument is known. Raises :class:`ConfigError` naming the
    model, the offending text and what is allowed; nothing in the formula is ever evaluated.
    """
    text = _one_line(formula, "formula", model)
    tokens = _tokens(text, "formula", model)
    chars = list(text)
    depth, tildes = 0, []
    for tok in tokens:
        if tok.type != tokenize.OP:
            continue
        col = tok.start[1]
        if tok.string in "([{":
            depth += 1
        elif tok.string in ")]}":
            depth -= 1
        elif tok.string == "~" and depth == 0:
            tildes.append(col)
        elif tok.string == ":" and depth == 0:
            chars[col] = _INTERACTION
    if len(tildes) != 1:
        raise ConfigError(
            f"{_who(model)}formula {text!r} needs exactly one '~' between the outcome and the "
            f"terms, not {len(tildes)}"
        )
    source = "".join(chars)
    left, right = source[: tildes[0]], source[tildes[0] + 1 :]
    lhs: list[str] = []
    if left.strip():
        walker = _FormulaWalker(text, left.strip(), declared, model)
        node = _parse(left.strip(), text, "formula", model).body
        walker.one_variable(node, "is not an outcome variable (left of '~': one variable)")
        lhs = walker.found
    if not right.strip():
        raise ConfigError(f"{_who(model)}formula {text!r} has no terms right of '~'")
    walker = _FormulaWalker(text, right.strip(), declared, model)
    walker.term(_parse(right.strip(), text, "formula", model).body)
    _check_patsy_factors(text, declared, model)
    return Formula(
        text=text,
        outcome=lhs[0] if lhs else None,
        lhs=tuple(lhs),
        rhs=tuple(dict.fromkeys(walker.found)),
        treatments=tuple(walker.values),
    )


def _check_patsy_factors(text: str, declared: Collection[str] | None, model: str | None) -> None:
    """Walk every factor exactly as patsy splits the formula: the code patsy would evaluate."""
    try:
        desc = patsy.ModelDesc.from_formula(text)
    except patsy.PatsyError as exc:
        raise ConfigError(f"{_who(model)}formula {text!r} cannot be read: {exc}") from None
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            code = factor.code
            walker = _FormulaWalker(text, code, declared, model)
            walker.factor(_parse(code, text, "formula", model).body)


# -- subsets --------------------------------------------------------------------------------
_COMPARE: dict[type, Callable] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class _SubsetWalker(_Walker):
    """Walks a subset's condition and collects the variables and literals it names."""

    kind, allowed = "subset", SUBSET_ALLOWED

    def shown(self, node: ast.AST) -> str:
        return _shown(ast.get_source_segment(self.source, node) or type(node).__name__)

    def condition(self, node: ast.AST) -> None:
        if isinstance(node, ast.BoolOp):  # & and | (rewritten, with their pandas precedence)
            for value in node.values:
                self.condition(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):  # ~
            self.condition(node.operand)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.Name):
            self.variable(node)
        else:
            raise self.fail(
                node,
                _kind(node)
                if not isinstance(node, ast.BinOp)
                else "uses an operator subsets do not have",
            )

    def variable(self, node: ast.Name) -> str:
        name = node.id
        self.check_name(node, name)
        if name in ("True", "False", "None"):
            return name
        if self.declared is not None and name not in self.declared:
            raise ConfigError(
                f"{_who(self.model)}subset {self.text!r}: {name!r} is not declared "
                "(not a column of the data)" + _suggest(name, self.declared)
            )
        self.found.append(name)
        return name

    def compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            left, right = operands[i], operands[i + 1]
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(left, ast.Name):
                    raise self.fail(left, "must be a variable (left of 'in')")
                var = self.variable(left)
                if not isinstance(right, (ast.List, ast.Tuple)):
                    raise self.fail(right, "must be a list of literals, e.g. ['a', 'b']")
                for item in right.elts:
                    self.literal(item)
                    self.values.append((var, _value(item)))
            elif type(op) in _COMPARE:
                names = []
                for side in (left, right):
                    if isinstance(side, ast.Name):
                        names.append(self.variable(side))
                    else:
                        self.literal(side)
                if len(names) == 1:
                    lit = right if isinstance(left, ast.Name) else left
                    self.values.append((names[0], _value(lit)))
                if not names:
                    raise self.fail(node, "compares two literals")
            else:
                raise self.fail(node, "uses a comparison subsets do not have")

    def literal(self, node: ast.AST) -> None:
        if not _literal(node) and not (isinstance(node, ast.Constant) and node.value is None):
            plain = isinstance(node, (ast.Constant, ast.UnaryOp, ast.BinOp))
            raise self.fail(
                node, "is not a literal (text, number, True/False)" if plain else _kind(node)
            )


def _value(node: ast.AST) -> object:
    if isinstance(node, ast.UnaryOp):  # a negative number, checked by _literal
        return -node.operand.value  # type: ignore[attr-defined]
    return node.value  # type: ignore[attr-defined]


# As in pandas' query language, & | ~ bind more loosely than comparisons
# ("a == 1 & b > 2" means "(a == 1) & (b > 2)"): they are read as Python's and/or/not.
_LOGIC = {"&": " and ", "|": " or ", "~": " not "}
_LOGIC_BACK = {word: f" {op} " for op, word in _LOGIC.items()}


def _shown(segment: str | None) -> str:
    """A piece of a rewritten subset as the user wrote it, for messages."""
    segment = segment or ""
    for word, op in _LOGIC_BACK.items():
        segment = segment.replace(word, op)
    return " ".join(segment.split())


def _logic_as_words(text: str, tokens: list[tokenize.TokenInfo], model: str | None) -> str:
    """The subset with & | ~ as and/or/not; and/or/not written as words are refused."""
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        spelled = tok.string in ("and", "or") or (tok.string == "not" and after != "in")
        if spelled:
            raise ConfigError(
                f"{_who(model)}subset {text!r}: {tok.string!r} is not allowed: write & (and), "
                f"| (or), ~ (not) with parentheses; a subset may use {SUBSET_ALLOWED}"
            )
    out, last = [], 0
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in _LOGIC:
            col = tok.start[1]
            out += [text[last:col], _LOGIC[tok.string]]
            last = col + 1
    out.append(text[last:])
    return "".join(out)


def parse_subset(
    subset: object, declared: Collection[str] | None = None, *, model: str | None = None
) -> Subset:
    """Check a subset expression against its grammar and, when given, the declared variables."""
    text = _one_line(subset, "subset", model)
    source = _logic_as_words(text, _tokens(text, "subset", model), model).strip()
    tree = _parse(source, text, "subset", model)
    walker = _SubsetWalker(text, source, declared, model)
    walker.condition(tree.body)
    return Subset(
        text=text,
        tree=tree,
        source=source,
        variables=tuple(dict.fromkeys(walker.found)),
        literals=tuple(walker.values),
    )


def evaluate_subset(
    subset: str | Subset, frame: pd.DataFrame, *, model: str | None = None
) -> np.ndarray:
    """One True/False per row of ``frame``: the subset evaluated by this module's own walker.

    A missing value satisfies no comparison except ``!=`` and ``not in``, as in pandas.
    """
    if not isinstance(subset, Subset):
        subset = parse_subset(subset, list(frame.columns), model=model)
    else:
        missing = [v for v in subset.variables if v not in frame.columns]
        if missing:
            parse_subset(subset.text, list(frame.columns), model=model)
    n = len(frame)

    def mask(value) -> np.ndarray:
        if isinstance(value, pd.Series):
            if value.dtype != bool and not pd.api.types.is_bool_dtype(value.dtype):
                raise ConfigError(
                    f"{_who(model)}subset {subset.text!r}: {value.name!r} is not a True/False "
                    "variable; compare it with a value"
                )
            return value.to_numpy(dtype=bool, na_value=False)
        return np.asarray(value, dtype=bool)

    def operand(node: ast.AST):
        if isinstance(node, ast.Name):
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            return frame[node.id]
        return _value(node)

    def compare(left, op: ast.cmpop, right, node) -> np.ndarray:
        try:
            if isinstance(op, (ast.In, ast.NotIn)):
                values = [_value(e) for e in right.elts]  # type: ignore[attr-defined]
                out = mask(frame[left.id].isin(values))
                return ~out if isinstance(op, ast.NotIn) else out
            a, b = operand(left), operand(right)
            result = _COMPARE[type(op)](a, b)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{_who(model)}subset {subset.text!r}: "
                f"{_shown(ast.get_source_segment(subset.source, node))!r} cannot be compared: {exc}"
            ) from None
        if isinstance(result, pd.Series):
            out = result.to_numpy(dtype=bool, na_value=False)
            if isinstance(op, ast.NotEq):  # a missing value is "not equal", as in pandas
                series = a if isinstance(a, pd.Series) else b
                out = out | series.isna().to_numpy()
            return out
        return np.full(n, bool(result))

    def walk(node: ast.AST) -> np.ndarray:
        if isinstance(node, ast.BoolOp):
            parts = [walk(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return combine.reduce(parts)
        if isinstance(node, ast.UnaryOp):
            return ~walk(node.operand)
        if isinstance(node, ast.Name):
            return mask(frame[node.id])
        assert isinstance(node, ast.Compare)
        out = np.ones(n, dtype=bool)
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            out &= compare(operands[i], op, operands[i + 1], node)
        return out

    return walk(subset.tree.body)
