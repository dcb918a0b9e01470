"""IR -> SQL, built with sqlglot's expression builders: one tree, rendered for DuckDB or Spark.

Three-valued logic maps onto SQL NULL: AND, OR, NOT, `=` and IN are Kleene's in SQL
already. Everything else is written out from numeric.py, with the same single IEEE
operations, so that SQL computes what the interpreter computes:

- every number literal is a DOUBLE in exponent form (`1.5e0`), never a DECIMAL, and a
  negative one is parenthesised (`(-1e0)`), so `-(-1)` can never become a comment;
- a result that is not finite (|x| > MAX_FLOAT, an overflow) is NULL, and so are the
  domain errors (division by zero, ln/log10 of <= 0, sqrt of < 0, exp above EXP_MAX,
  clamp with low > high, round to decimals that are not whole);
- floor/ceil/round are numeric.floor12/ceil12/round_half_away, operation for operation;
- a comparison with a constant folds numeric.against_constant; otherwise `close`.

Names: every column the SQL computes or reads has an internal name containing `$`
(`$i0` an input, `$d0` a definition, `$c0` a criterion, `$n0` a computed node), a
namespace no name of the language can take, so neither an engine's case-insensitive
identifiers nor the result columns can collide with a user's names.

Size is linear in the IR. A node's SQL is written once: an operand that a node's SQL
needs more than once, and a node the IR shares (a chain's middle operand, a
definition), is materialised as a column of an earlier layer (nested SELECTs, each
adding columns) and referenced by name.
"""

from __future__ import annotations

from typing import Optional

from sqlglot import exp

from .. import ir, numeric
from . import Unsupported, dispatch

MAX = numeric.MAX_FLOAT
INLINE_DEPTH = 24  # an expression nesting deeper is made a column (no recursion limit anywhere)
WHOLE = 4503599627370496.0  # 2**52: every double at least this large is a whole number


# ---------------------------------------------------------------- leaves
def number(value: float) -> exp.Expression:
    """A DOUBLE literal in exponent form; a negative one in parentheses."""
    text = repr(float(value))
    if "e" not in text:
        text += "e0"
    if text.startswith("-"):
        return exp.Paren(this=exp.Neg(this=exp.Literal.number(text[1:])))
    return exp.Literal.number(text)


def text(value: str) -> exp.Expression:
    return exp.Literal.string(value)


def boolean(value: bool) -> exp.Expression:
    return exp.true() if value else exp.false()


def column(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def typed_null(kind: str) -> exp.Expression:
    return exp.Cast(this=exp.Null(), to=exp.DataType.build(SQL_TYPES[kind]))


SQL_TYPES = {ir.NUMBER: "double", ir.BOOLEAN: "boolean", ir.TEXT: "text"}


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    """A function call by its name in both engines (no dialect rewriting)."""
    return exp.Anonymous(this=name, expressions=list(args))


def p(e: exp.Expression) -> exp.Expression:
    """Parenthesised unless atomic."""
    return e if simple(e) or isinstance(e, (exp.Paren, exp.Anonymous, exp.Case)) else exp.Paren(this=e)


def simple(e: exp.Expression) -> bool:
    """A column or a literal: free to repeat."""
    if isinstance(e, (exp.Column, exp.Literal, exp.Boolean, exp.Null)):
        return True
    if isinstance(e, exp.Paren) and isinstance(e.this, exp.Neg) and isinstance(e.this.this, exp.Literal):
        return True
    return isinstance(e, exp.Cast) and isinstance(e.this, exp.Null)


def case(*whens: tuple[exp.Expression, exp.Expression], default: Optional[exp.Expression] = None) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=c, true=v) for c, v in whens], default=default)


def _balanced(kind, parts):
    """parts joined by a binary operator as a balanced tree (depth log n: no recursion limit)."""
    parts = list(parts)
    while len(parts) > 1:
        joined = [kind(this=p(a), expression=p(b)) for a, b in zip(parts[::2], parts[1::2])]
        if len(parts) % 2:
            joined.append(parts[-1])
        parts = joined
    return parts[0]


def and_(*parts):
    return _balanced(exp.And, parts)


def or_(*parts):
    return _balanced(exp.Or, parts)


def not_(e):
    return exp.Not(this=p(e))


def is_null(e):
    return exp.Is(this=p(e), expression=exp.Null())


def abs_(e):
    return fn("abs", e)


def binary(kind, a, b):
    return kind(this=p(a), expression=p(b))


def is_finite(e) -> exp.Expression:
    """|e| <= MAX_FLOAT: false for an infinity or NaN (both engines order NaN above all)."""
    return binary(exp.LTE, abs_(e), number(MAX))


def fails(kind: str, value: exp.Expression) -> exp.Expression:
    """The criterion is failed (never NULL): an inclusion false, an exclusion true."""
    if kind == "inclusion":
        return not_(exp.Coalesce(this=value, expressions=[exp.true()]))
    return exp.Coalesce(this=value, expressions=[exp.false()])


# ---------------------------------------------------------------- layers
class Layers:
    """Columns computed in nested SELECT layers: a column of layer k reads layers < k."""

    def __init__(self) -> None:
        self.layers: list[list[tuple[str, exp.Expression]]] = []
        self.level: dict[str, int] = {}  # column -> the first layer that may read it
        self.count = 0

    def level_of(self, e: exp.Expression) -> int:
        return max((self.level.get(c.name, 0) for c in e.find_all(exp.Column)), default=0)

    def add(self, e: exp.Expression, name: Optional[str] = None, at_least: int = 0) -> exp.Column:
        if name is None:
            name = f"$n{self.count}"
            self.count += 1
        level = max(self.level_of(e), at_least)
        while len(self.layers) <= level:
            self.layers.append([])
        self.layers[level].append((name, e))
        self.level[name] = level + 1
        return column(name)

    def once(self, e: exp.Expression) -> exp.Expression:
        """e, as a column if it is not already free to repeat."""
        return e if simple(e) else self.add(e)

    def select(self, base: exp.Expression, final: list[exp.Expression]) -> exp.Select:
        """WITH each layer over the one before (the first over base) SELECT final FROM the last.

        The layers are a flat chain of common table expressions rather than nested
        subqueries, so that neither sqlglot nor an engine's parser meets a depth limit.
        """
        ctes = []
        relation = base
        if isinstance(relation, exp.Select):
            relation = exp.Subquery(this=relation, alias=exp.TableAlias(this=exp.to_identifier("$base", quoted=True)))
        for layer in self.layers:
            if not layer:
                continue
            query = exp.Select(expressions=[exp.Star()] + [exp.alias_(e, n, quoted=True, copy=False) for n, e in layer])
            name = f"$l{len(ctes)}"
            ctes.append(exp.CTE(this=query.from_(relation, copy=False), alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True))))
            relation = exp.Table(this=exp.to_identifier(name, quoted=True))
        select = exp.Select(expressions=final).from_(relation, copy=False)
        if ctes:
            select.set("with_", exp.With(expressions=ctes))
        return select


# ---------------------------------------------------------------- the backend
class SqlBackend:
    """The SQL columns of one program: inputs read from `inputs` (name -> column)."""

    def __init__(self, program: ir.Program, inputs: dict[str, exp.Expression]):
        self.program = program
        self.inputs = inputs
        self.layers = Layers()
        self.shared = {key for key, count in ir.uses(program).items() if count > 1}
        self.memo: dict[int, exp.Expression] = {}
        self.depth: dict[int, int] = {}  # how deep a node's inline SQL nests
        self.definitions: dict[str, exp.Expression] = {}
        for index, (name, definition) in enumerate(program.definitions.items()):
            self.definitions[name] = self.layers.add(self.value(definition.body), f"$d{index}")
        self.criteria: list[exp.Column] = [
            self.layers.add(self.value(c.body), f"$c{index}") for index, c in enumerate(program.criteria)
        ]

    def value(self, node: ir.Node) -> exp.Expression:
        # Iteratively, children first, so that deep expressions meet no recursion limit.
        for each in ir.postorder([node]):
            key = id(each)
            if key in self.memo:
                continue
            e = dispatch(self, "s_", each)(each)
            depth = 1 + max((self.depth[id(c)] for c in ir.children(each)), default=0)
            if key in self.shared or depth > INLINE_DEPTH:
                e, depth = self.layers.once(e), 0
            self.memo[key], self.depth[key] = e, (0 if simple(e) else depth)
        return self.memo[id(node)]

    def v(self, node) -> exp.Expression:
        return self.memo[id(node)]

    def once(self, node) -> exp.Expression:
        return self.layers.once(self.v(node))

    def finite(self, raw: exp.Expression) -> exp.Expression:
        """numeric.finite: raw computed once (as a column), NULL unless finite."""
        raw = self.layers.once(raw)
        return case((is_finite(raw), raw))

    # ------------------------------------------------------------ leaves
    def s_Const(self, node: ir.Const):
        if node.kind == ir.NUMBER:
            return number(node.value)
        if node.kind == ir.BOOLEAN:
            return boolean(node.value)
        return text(node.value)

    def s_Input(self, node: ir.Input):
        return self.inputs[node.name]

    def s_EventQuery(self, node: ir.EventQuery):
        what = "time since" if node.function == "time since" else f"{node.function}()"
        if node.function == "any" and node.window is None:
            what = "whether there is an event"  # a bare event input, or any() without a window
        raise Unsupported(
            "SQL", node,
            f"SQL does not compute events yet: {what} of '{node.name}' needs each patient's "
            "conditions, procedures or medications and an index date; evaluate these patients one by one "
            "(protocol-dsl eval --as-of)",
        )

    def s_Item(self, node: ir.Item):
        return self.inputs[node.name]

    def s_Aggregate(self, node: ir.Aggregate):
        """An aggregate over a cohort's column: one value per patient, taken at the index date.

        A table holds one value per input, so each patient has at most one value, dated at
        the index date (docs/records.md): the aggregate of one value, as the interpreter
        computes it for an undated value. Dated values themselves are not columns.
        """
        if node.operand.kind == ir.DATE:
            what = "age()" if node.function == "age" else "time since"
            raise Unsupported(
                "SQL", node,
                f"SQL does not compute dates yet: {what} of '{node.input}' needs the date and an index date; "
                "evaluate these patients one by one (protocol-dsl eval --as-of)",
            )
        x = self.inputs[node.input]
        known = not_(is_null(x))
        f = node.function
        if f in ("latest", "earliest", "min", "max", "sum"):
            return x
        if f in ("uln", "lln"):
            normal = self.program.inputs[node.input].normal
            return typed_null(ir.NUMBER) if normal is None else number(float(normal[1 if f == "uln" else 0]))
        if f == "rate":  # two values at different times: never in one column
            return typed_null(ir.NUMBER)
        if f == "time since":
            return case((known, number(0.0)))
        c = self.once(node.operand)
        if f == "duration":
            return case((and_(known, not_(is_null(c))), number(0.0)))
        if f == "count":
            absent = number(0.0) if node.complete else typed_null(ir.NUMBER)
            return case((is_null(x), absent), (c, number(1.0)), (not_(c), number(0.0)))
        absent = boolean(f == "all") if node.complete else typed_null(ir.BOOLEAN)
        return case((is_null(x), absent), default=c)

    def s_Ref(self, node: ir.Ref):
        return self.definitions[node.name]

    # ------------------------------------------------------------ numbers
    def s_Scale(self, node: ir.Scale):
        return self.finite(binary(exp.Mul, self.v(node.operand), number(node.factor)))

    def s_Neg(self, node: ir.Neg):
        return exp.Paren(this=exp.Neg(this=p(self.v(node.operand))))

    def s_Arith(self, node: ir.Arith):
        a = self.v(node.left)
        if node.op == "/":
            # NULLIF inside the quotient itself: an engine that checks arithmetic strictly
            # (Spark's ANSI mode) never sees a division by zero, even in a computed column.
            divisor = exp.Nullif(this=self.v(node.right), expression=number(0.0))
            return self.finite(binary(exp.Div, a, divisor))
        kind = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}[node.op]
        return self.finite(binary(kind, a, self.v(node.right)))

    def s_Power(self, node: ir.Power):
        """numeric.power: the same two guards, pow only of guarded arguments, then finite."""
        a, b = self.once(node.base), self.once(node.exponent)
        zero = number(0.0)
        fraction = binary(exp.NEQ, b, self.layers.add(self.whole(b, up=False)))
        bad = self.layers.add(or_(and_(binary(exp.EQ, a, zero), binary(exp.LT, b, zero)),
                                  and_(binary(exp.LT, a, zero), fraction)))
        # A strict engine never sees pow of a guarded pair: the base is replaced by 1 there.
        raw = self.layers.add(fn("pow", case((bad, number(1.0)), default=a), b))
        return case((bad, exp.Null()), (is_finite(raw), raw))

    def s_Call(self, node: ir.Call):
        name = node.function
        if name in ("min", "max", "clamp"):
            args = [self.once(a) for a in node.args]
            known = and_(*[not_(is_null(a)) for a in args]) if len(args) > 1 else not_(is_null(args[0]))
            if name == "clamp":
                x, low, high = args
                value = fn("least", fn("greatest", x, low), high)
                return case((binary(exp.GT, low, high), exp.Null()), (known, value))
            return case((known, fn("least" if name == "min" else "greatest", *args)))
        if name == "round":
            return self.round(node)
        if name == "abs":
            return abs_(self.v(node.args[0]))
        x = self.once(node.args[0])
        if name == "ln":
            return case((binary(exp.GT, x, number(0.0)), fn("ln", x)))
        if name == "log10":
            return case((binary(exp.GT, x, number(0.0)), fn("log10", x)))
        if name == "sqrt":
            return case((binary(exp.GTE, x, number(0.0)), fn("sqrt", x)))
        if name == "exp":
            return case((binary(exp.LTE, x, number(numeric.EXP_MAX)), fn("exp", x)))
        if name == "floor":
            return self.floor12(x)
        if name == "ceil":
            return self.ceil12(x)
        raise NotImplementedError(name)

    def whole(self, x: exp.Expression, up: bool) -> exp.Expression:
        """math.floor/ceil of a column as a DOUBLE (a double >= 2^52 is whole already)."""
        rounded = exp.Cast(this=fn("ceil" if up else "floor", x), to=exp.DataType.build("double"))
        return case((binary(exp.GTE, abs_(x), number(WHOLE)), x), default=rounded)

    def floor12(self, x: exp.Expression) -> exp.Expression:
        whole = self.layers.add(self.whole(x, up=False))
        above = self.layers.add(binary(exp.Add, whole, number(1.0)))
        return case((close(x, above), above), default=whole)

    def ceil12(self, x: exp.Expression) -> exp.Expression:
        whole = self.layers.add(self.whole(x, up=True))
        below = self.layers.add(binary(exp.Sub, whole, number(1.0)))
        return case((close(x, below), below), default=whole)

    def round(self, node: ir.Call) -> exp.Expression:
        """numeric.round_half_away, step for step."""
        x = self.once(node.args[0])
        zero = number(0.0)
        if len(node.args) == 1 or (isinstance(node.args[1], ir.Const) and node.args[1].value == 0):
            shifted = self.layers.add(binary(exp.Add, abs_(x), number(0.5)))
            whole = self.layers.add(self.floor12(shifted))
            value = case((binary(exp.GTE, x, zero), whole), default=exp.Paren(this=exp.Neg(this=whole)))
            return case((is_finite(shifted), value))
        digits = self.once(node.args[1])
        factor = self.layers.add(fn("pow", number(10.0), digits))
        shifted = self.layers.add(binary(exp.Add, binary(exp.Mul, abs_(x), factor), number(0.5)))
        # The general branch is computed only where it is defined, so floor12 reads a finite number.
        safe = self.layers.add(case((and_(binary(exp.NEQ, factor, zero), is_finite(shifted)), shifted)))
        result = self.layers.add(binary(exp.Div, self.floor12(safe), factor))
        signed = case((binary(exp.GTE, x, zero), result), default=exp.Paren(this=exp.Neg(this=result)))
        digits_whole = binary(exp.EQ, digits, self.whole(digits, up=False))
        # digits == 0: the branch without a factor (same result; kept for exactness with Python).
        shifted0 = self.layers.add(binary(exp.Add, abs_(x), number(0.5)))
        whole0 = self.layers.add(self.floor12(shifted0))
        value0 = case((binary(exp.GTE, x, zero), whole0), default=exp.Paren(this=exp.Neg(this=whole0)))
        return case(
            (not_(digits_whole), exp.Null()),
            (binary(exp.EQ, digits, zero), case((is_finite(shifted0), value0))),
            (and_(not_(is_null(safe)), is_finite(result)), signed),
        )

    # ------------------------------------------------------------ logic
    def s_Compare(self, node: ir.Compare):
        left, right = node.left, node.right
        if isinstance(left, ir.Const) and isinstance(right, ir.Const):
            return boolean(numeric.COMPARE[node.op](left.value, right.value))
        if isinstance(right, ir.Const):
            return against(self.v(left), node.op, right.value)
        if isinstance(left, ir.Const):
            return against(self.v(right), numeric.MIRRORED[node.op], left.value)
        a, b = self.once(left), self.once(right)
        near = close(a, b)
        op = node.op
        if op == "=":
            return near
        if op == "!=":
            return not_(near)
        kind = {"<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[op]
        plain = binary(kind, a, b)
        return or_(plain, near) if op in ("<=", ">=") else and_(plain, not_(near))

    def s_Equal(self, node: ir.Equal):
        return binary(exp.NEQ if node.negated else exp.EQ, self.v(node.left), self.v(node.right))

    def s_Member(self, node: ir.Member):
        member = exp.In(this=p(self.v(node.operand)), expressions=[text(v) for v in node.values])
        return not_(member) if node.negated else member

    def s_Known(self, node: ir.Known):
        return not_(is_null(self.v(node.operand)))

    def s_Not(self, node: ir.Not):
        return not_(self.v(node.operand))

    def s_And(self, node: ir.And):
        return and_(*[self.v(o) for o in node.operands]) if len(node.operands) > 1 else self.v(node.operands[0])

    def s_Or(self, node: ir.Or):
        return or_(*[self.v(o) for o in node.operands]) if len(node.operands) > 1 else self.v(node.operands[0])

    def s_AtLeast(self, node: ir.AtLeast):
        if not node.operands:
            return boolean(node.count <= 0)
        one, nothing = exp.Literal.number(1), exp.Literal.number(0)
        operands = [self.once(o) for o in node.operands]
        true = _sum([exp.Case(this=o, ifs=[exp.If(this=exp.true(), true=one)], default=nothing) for o in operands])
        unknown = _sum([case((is_null(o), one), default=nothing) for o in operands])
        true = self.layers.add(true)
        count = exp.Literal.number(node.count)
        return case((binary(exp.GTE, true, count), exp.true()),
                    (binary(exp.LT, binary(exp.Add, true, unknown), count), exp.false()))

    def s_If(self, node: ir.If):
        condition = self.v(node.condition)
        then, otherwise = self.once(node.then), self.once(node.otherwise)
        same = close(then, otherwise) if node.kind == ir.NUMBER else binary(exp.EQ, then, otherwise)
        # CASE c WHEN TRUE ... WHEN FALSE ...: the condition is written once.
        return exp.Case(this=p(condition), ifs=[exp.If(this=exp.true(), true=then), exp.If(this=exp.false(), true=otherwise)],
                        default=case((same, then)))


def _sum(parts: list[exp.Expression]) -> exp.Expression:
    return p(_balanced(exp.Add, parts))


def close(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """numeric.close of two columns: a = b OR abs(a - b) <= RELATIVE * greatest(abs a, abs b)."""
    tolerance = binary(exp.Mul, number(numeric.RELATIVE), fn("greatest", abs_(a), abs_(b)))
    return or_(binary(exp.EQ, a, b), binary(exp.LTE, abs_(binary(exp.Sub, a, b)), tolerance))


def against(x: exp.Expression, op: str, constant: float) -> exp.Expression:
    """numeric.against_constant: one plain comparison with the band folded in."""
    plain, bound, high = numeric.against_constant(op, constant)
    if plain in ("between", "outside"):
        between = exp.Between(this=p(x), low=number(bound), high=number(high))
        return between if plain == "between" else not_(between)
    kind = {"<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[plain]
    return binary(kind, x, number(bound))


# ---------------------------------------------------------------- the query
class CriteriaQuery:
    """The evaluation of every patient: criteria, status, missing flags, first failed criterion.

    Reads `base`, a relation with the inputs under internal names (`input_columns`);
    every result column has an internal name (see `columns`).
    """

    def __init__(self, program: ir.Program, input_columns: dict[str, str]):
        self.program = program
        inputs = {name: column(c) for name, c in input_columns.items()}
        self.backend = backend = SqlBackend(program, inputs)
        layers = backend.layers
        criteria = program.criteria
        after = max((layers.level[c.name] for c in backend.criteria), default=0)
        if criteria:
            status = case(
                (or_(*[fails(c.kind, v) for c, v in zip(criteria, backend.criteria)]) if len(criteria) > 1
                 else fails(criteria[0].kind, backend.criteria[0]), text("ineligible")),
                (or_(*[is_null(v) for v in backend.criteria]) if len(criteria) > 1 else is_null(backend.criteria[0]),
                 text("undetermined")),
                default=text("eligible"),
            )
            first = case(*[(fails(c.kind, v), exp.Literal.number(i)) for i, (c, v) in enumerate(zip(criteria, backend.criteria))])
        else:
            status, first = text("eligible"), exp.Cast(this=exp.Null(), to=exp.DataType.build("int"))
        self.status = layers.add(status, "$status", after)
        self.first = layers.add(first, "$first", after)
        # Per input, whether it is missing and read by a criterion whose value is unknown.
        self.missing_flags: dict[str, exp.Column] = {}
        for index, name in enumerate(sorted(program.inputs)):
            readers = [is_null(v) for c, v in zip(criteria, backend.criteria) if name in c.reads]
            if not readers:
                continue
            unknown = or_(*readers) if len(readers) > 1 else readers[0]
            self.missing_flags[name] = layers.add(and_(is_null(inputs[name]), unknown), f"$m{index}", after)
        parts = [case((flag, text(name))) for name, flag in self.missing_flags.items()]
        missing = fn("concat_ws", text(","), *parts) if parts else text("")
        self.missing = layers.add(missing, "$missing", after + 1)

    def select(self, base: exp.Expression, final: list[exp.Expression]) -> exp.Select:
        return self.backend.layers.select(base, final)

    def result_columns(self) -> list[str]:
        """The internal columns of the results: status, criteria, missing, then what the summary reads."""
        return (["$status"] + [c.name for c in self.backend.criteria] + ["$missing", "$first"]
                + [f.name for f in self.missing_flags.values()])


def summary_query(program: ir.Program, missing_flags: dict[str, str], source: exp.Expression) -> exp.Select:
    """One row over the results: counts by status, the attrition, and who lacks which input.

    Aliases are internal: `$patients`, `$eligible`..., `$removed{k}`, `$fails{k}`,
    `$unknown{k}` per criterion, `$missing{k}` per input in sorted order.
    """
    one, nothing = exp.Literal.number(1), exp.Literal.number(0)

    def count(condition):
        return exp.Sum(this=case((condition, one), default=nothing))

    columns = [exp.alias_(exp.Count(this=exp.Star()), "$patients", quoted=True, copy=False)]
    status = column("$status")
    for word in ("eligible", "ineligible", "undetermined"):
        columns.append(exp.alias_(count(binary(exp.EQ, status, text(word))), f"${word}", quoted=True, copy=False))
    first = column("$first")
    for index, c in enumerate(program.criteria):
        value = column(f"$c{index}")
        columns.append(exp.alias_(count(binary(exp.EQ, first, exp.Literal.number(index))), f"$removed{index}", quoted=True, copy=False))
        columns.append(exp.alias_(count(fails(c.kind, value)), f"$fails{index}", quoted=True, copy=False))
        columns.append(exp.alias_(count(is_null(value)), f"$unknown{index}", quoted=True, copy=False))
    for index, name in enumerate(sorted(program.inputs)):
        if name in missing_flags:
            flag = column(missing_flags[name])
            condition = and_(binary(exp.EQ, status, text("undetermined")), exp.Coalesce(this=flag, expressions=[exp.false()]))
            columns.append(exp.alias_(count(condition), f"$missing{index}", quoted=True, copy=False))
    return exp.Select(expressions=columns).from_(source, copy=False)


# ---------------------------------------------------------------- to_sql
RESERVED = ("_row", "status", "missing")


def criterion_names(program: ir.Program, taken=RESERVED) -> list[str]:
    """The result column of each criterion: its id, or `criterion:ID` when the id is a result column's name."""
    used = set(taken)
    names = []
    for c in program.criteria:
        name = c.id
        while name in used:
            name = "criterion:" + name
        used.add(name)
        names.append(name)
    return names


def to_sql(program: ir.Program, dialect: str = "duckdb", source: str = "patients") -> str:
    """SELECT _row, status, each criterion (by id), missing FROM source (columns named after the inputs)."""
    inputs = {name: f"$i{index}" for index, name in enumerate(program.inputs)}
    base = exp.Select(
        expressions=[exp.alias_(column("_row"), "$row", quoted=True, copy=False)]
        + [exp.alias_(column(name), inputs[name], quoted=True, copy=False) for name in program.inputs]
    ).from_(exp.to_table(source) if "." not in source and source.isidentifier() else exp.Table(
        this=exp.to_identifier(source, quoted=True)))
    base = exp.Subquery(this=base, alias=exp.TableAlias(this=exp.to_identifier("$source", quoted=True)))
    query = CriteriaQuery(program, inputs)
    final = [exp.alias_(column("$row"), "_row", quoted=True, copy=False), exp.alias_(column("$status"), "status", quoted=True, copy=False)]
    for c, name in zip(query.backend.criteria, criterion_names(program)):
        final.append(exp.alias_(c, name, quoted=True, copy=False))
    final.append(exp.alias_(column("$missing"), "missing", quoted=True, copy=False))
    try:
        return query.select(base, final).sql(dialect=dialect)
    except (ValueError, KeyError) as problem:  # sqlglot: an unknown dialect
        raise ValueError(f"unknown SQL dialect {dialect!r}: {problem}") from None
