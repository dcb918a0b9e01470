"""Checked tree -> SQL: one column per criterion, the status and the missing inputs.

Three-valued logic maps onto SQL NULL: AND, OR and NOT are Kleene's in SQL, and a
comparison with NULL is NULL. What SQL does differently is written out: an IF whose
condition is NULL, LEAST/GREATEST (which skip NULLs), logarithms of numbers <= 0 and
division by zero (unknown here). The SQL is written once in DuckDB's dialect and
translated by sqlglot for the others (Spark); no template per engine.

Numbers are compared at 12 significant digits as everywhere (compiler._close), and
round/floor/ceil decide at 12 digits with a tolerance band: these agree with the
Python evaluator except for values within about 1e-12 of a half (documented).
"""

from __future__ import annotations

from typing import Iterable, Optional

from . import ast, units
from .checker import Bool, Cat, Checked, InputInfo, Num, conversion, inputs_read
from .compiler import Compiler, band

_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "!=": "<>"}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
_BAND = "least(abs({x}) * 5e-12, 1e-6)"  # half a unit of the 12th digit, capped


def quote(name: str) -> str:
    """A double-quoted SQL identifier (sqlglot turns it into backticks for Spark)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number)}.0"
    return repr(number)


class SqlGenerator:
    """SQL expressions for one checked protocol, in DuckDB's dialect."""

    def __init__(self, checked: Checked):
        self.checked = checked

    def type_of(self, node):
        return self.checked.types[id(node)]

    # ------------------------------------------------------------ statements
    def criteria_query(self, source: str = "patients", keep: Iterable[str] = ("_row",)) -> str:
        """SELECT keep..., each criterion (by id), status, missing FROM source."""
        checked = self.checked
        keep = list(keep)
        # Each definition becomes a column, one layer per definition (dependencies
        # first), so an expression that uses it reads a column instead of repeating it.
        layer = source
        for name in self.definition_order():
            expr = self.expr(checked.definitions[name].expr)
            layer = f"(SELECT *, {expr} AS {quote(name)} FROM {layer} AS d)"
        inner_columns = [quote(k) for k in keep] + [quote(n) for n in checked.inputs]
        for index, criterion in enumerate(checked.criteria):
            inner_columns.append(f"{self.expr(criterion.expr)} AS {quote(f'_c{index}')}")
        inner = f"SELECT {', '.join(inner_columns)} FROM {layer} AS defined"
        fails, unknown = [], []
        for index, criterion in enumerate(checked.criteria):
            column = quote(f"_c{index}")
            fails.append(f"{column} IS {'FALSE' if criterion.kind == 'inclusion' else 'TRUE'}")
            unknown.append(f"{column} IS NULL")
        if checked.criteria:
            status = (
                f"CASE WHEN {' OR '.join(fails)} THEN 'ineligible' "
                f"WHEN {' OR '.join(unknown)} THEN 'undetermined' ELSE 'eligible' END"
            )
        else:
            status = "'eligible'"
        missing_parts = []
        for name in sorted(checked.inputs):
            readers = [
                quote(f"_c{i}") + " IS NULL"
                for i, c in enumerate(checked.criteria)
                if name in inputs_read(checked, c.expr)
            ]
            if readers:
                missing_parts.append(
                    f"CASE WHEN {quote(name)} IS NULL AND ({' OR '.join(readers)}) THEN {literal(name)} END"
                )
        missing = f"concat_ws(',', {', '.join(missing_parts)})" if missing_parts else "''"
        outer = [quote(k) for k in keep] + [f"{status} AS status"]
        outer += [f"{quote(f'_c{i}')} AS {quote(c.id)}" for i, c in enumerate(checked.criteria)]
        outer.append(f"{missing} AS missing")
        return f"SELECT {', '.join(outer)} FROM ({inner}) AS evaluated"

    # ------------------------------------------------------------ expressions
    def expr(self, node) -> str:
        return getattr(self, "s_" + type(node).__name__)(node)

    def converted(self, node, target: Num) -> str:
        factor = conversion(self.type_of(node), target)
        if factor == 1.0:
            return self.expr(node)
        if isinstance(node, ast.Number):
            return literal(node.value * factor)
        return f"({self.expr(node)} * {literal(factor)})"

    def s_Number(self, node):
        return literal(node.value)

    def s_String(self, node):
        return literal(node.value)

    def s_Boolean(self, node):
        return literal(node.value)

    def s_Name(self, node):
        return quote(node.name)  # an input, or a definition computed in its own layer

    def definition_order(self) -> list[str]:
        """Definitions, each after the definitions it uses."""
        from .checker import _Checker

        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for used in sorted(_Checker.references(self.checked.definitions[name].expr)):
                if used in self.checked.definitions:
                    visit(used)
            order.append(name)

        for name in self.checked.definitions:
            visit(name)
        return order

    def s_Negate(self, node):
        return f"(-{self.expr(node.operand)})"

    def s_Arithmetic(self, node):
        if node.op in "+-":
            result = self.type_of(node)
            left, right = self.converted(node.left, result), self.converted(node.right, result)
        else:
            left, right = self.expr(node.left), self.expr(node.right)
        if node.op == "/":
            return f"(CASE WHEN {right} = 0 THEN NULL ELSE {left} / {right} END)"
        return f"({left} {node.op} {right})"

    def s_As(self, node):
        source = self.type_of(node.operand)
        factor = units.conversion_factor(source.unit, units.parse_unit(node.unit), source.molar_mass)
        inner = self.expr(node.operand)
        return inner if factor == 1.0 else f"({inner} * {literal(factor)})"

    def s_Call(self, node):
        name = node.function
        if name == "known":
            return f"({self.expr(node.args[0])} IS NOT NULL)"
        result = self.type_of(node)
        if name in ("min", "max", "clamp"):
            args = [self.converted(a, result) for a in node.args]
        else:
            args = [self.expr(a) for a in node.args]
        x = args[0]
        if name in ("min", "max"):
            nulls = " OR ".join(f"{a} IS NULL" for a in args)
            function = "least" if name == "min" else "greatest"
            return f"(CASE WHEN {nulls} THEN NULL ELSE {function}({', '.join(args)}) END)"
        if name == "clamp":
            low, high = args[1], args[2]
            nulls = " OR ".join(f"{a} IS NULL" for a in args)
            return f"(CASE WHEN {nulls} OR {low} > {high} THEN NULL ELSE least(greatest({x}, {low}), {high}) END)"
        if name == "ln":
            return f"(CASE WHEN {x} > 0 THEN ln({x}) END)"
        if name == "log10":
            return f"(CASE WHEN {x} > 0 THEN log10({x}) END)"
        if name == "exp":
            return f"(CASE WHEN {x} < 709.78 THEN exp({x}) END)"
        if name == "sqrt":
            return f"(CASE WHEN {x} >= 0 THEN sqrt({x}) END)"
        if name == "abs":
            return f"abs({x})"
        band = _BAND.format(x=x)
        if name == "floor":
            return f"floor({x} + {band})"
        if name == "ceil":
            return f"ceil({x} - {band})"
        if len(args) == 2:  # round(x, digits): scale, round half away, scale back
            scale = f"power(10.0, {args[1]})"
            scaled = f"({x} * {scale})"
            return f"(sign({scaled}) * floor(abs({scaled}) + 0.5 + {_BAND.format(x=scaled)}) / {scale})"
        return f"(sign({x}) * floor(abs({x}) + 0.5 + {band}))"

    def s_Compare(self, node):
        parts = []
        for left_node, op, right_node in zip(node.operands, node.ops, node.operands[1:]):
            target = Compiler.comparison_unit(self, left_node, right_node)
            if target is None:
                parts.append(f"({self.expr(left_node)} {_OPS[op]} {self.expr(right_node)})")
                continue
            left, right = self.converted(left_node, target), self.converted(right_node, target)
            if isinstance(right_node, ast.Number):
                parts.append(_against_constant(left, op, right_node.value * conversion(self.type_of(right_node), target)))
            elif isinstance(left_node, ast.Number):
                value = left_node.value * conversion(self.type_of(left_node), target)
                parts.append(_against_constant(right, _MIRROR[op], value))
            else:
                parts.append(_tolerant(left, op, right))
        return "(" + " AND ".join(parts) + ")"

    def s_Membership(self, node):
        values = ", ".join(literal(v.value) for v in node.values)
        return f"({self.expr(node.operand)} {'NOT IN' if node.negated else 'IN'} ({values}))"

    def s_Not(self, node):
        return f"(NOT {self.expr(node.operand)})"

    def s_Logic(self, node):
        return "(" + f" {node.op.upper()} ".join(self.expr(o) for o in node.operands) + ")"

    def s_AtLeast(self, node):
        if not node.operands:
            return literal(node.count <= 0)
        true = " + ".join(f"(CASE WHEN {self.expr(o)} THEN 1 ELSE 0 END)" for o in node.operands)
        unknown = " + ".join(f"(CASE WHEN {self.expr(o)} IS NULL THEN 1 ELSE 0 END)" for o in node.operands)
        return f"(CASE WHEN {true} >= {node.count} THEN TRUE WHEN {true} + {unknown} < {node.count} THEN FALSE END)"

    def s_If(self, node):
        result = self.type_of(node)
        condition = self.expr(node.condition)
        if isinstance(result, Num):
            then, otherwise = self.converted(node.then, result), self.converted(node.otherwise, result)
            same = _tolerant(then, "=", otherwise)
        else:
            then = self.expr(node.then)
            otherwise = self.expr(node.otherwise) if node.otherwise is not None else "TRUE"
            same = f"{then} = {otherwise}"
        return (
            f"(CASE WHEN {condition} THEN {then} WHEN NOT {condition} THEN {otherwise} "
            f"WHEN {same} THEN {then} END)"
        )


def _against_constant(text: str, op: str, constant: float) -> str:
    low, high = (literal(bound) for bound in band(constant))
    if op == ">=":
        return f"({text} >= {low})"
    if op == ">":
        return f"({text} > {high})"
    if op == "<=":
        return f"({text} <= {high})"
    if op == "<":
        return f"({text} < {low})"
    if op == "=":
        return f"({text} BETWEEN {low} AND {high})"
    return f"({text} NOT BETWEEN {low} AND {high})"


def _tolerant(a: str, op: str, b: str) -> str:
    close = f"(abs({a} - {b}) <= 1e-12 * greatest(abs({a}), abs({b})))"
    if op == "=":
        return close
    if op == "!=":
        return f"(NOT {close})"
    if op in (">=", "<="):
        return f"(({a} {op} {b}) OR {close})"
    return f"(({a} {op} {b}) AND NOT {close})"


# ---------------------------------------------------------------- validation
def validation_query(
    checked: Checked, columns: dict[str, tuple[str, float, Optional[str]]], source: str = "raw", keep: Iterable[str] = ()
) -> str:
    """SELECT _row, each input typed and in its unit, problem FROM source.

    `columns` maps an input to (the cohort's column, the factor into the input's unit,
    the column's unit as written or None);
    an input without a column is NULL for everyone. Values are read as text first, so
    that a number in a text column and text in a number column are judged alike.
    """
    selected = ["_row"] + [quote(k) for k in keep]
    problems = []
    for name, info in checked.inputs.items():
        if name not in columns:
            selected.append(f"CAST(NULL AS {_sql_type(info)}) AS {quote(name)}")
            continue
        column, factor, given_unit = columns[name]
        text = f"CAST({quote(column)} AS VARCHAR)"  # Spark: STRING, through sqlglot
        raw = f"trim({text})"
        present = f"({raw} IS NOT NULL AND {raw} NOT IN ('', 'NA', 'null', 'NULL'))"
        t = info.type
        if isinstance(t, Num):
            number = f"TRY_CAST({raw} AS DOUBLE)"
            value = number if factor == 1.0 else f"({number} * {literal(factor)})"
            low, high = info.range if info.range else (-1.7976931348623157e308, 1.7976931348623157e308)
            unit = f" {t.unit.text}" if not t.unit.is_dimensionless else ""
            selected.append(f"CASE WHEN {present} THEN {value} END AS {quote(name)}")
            shown = f"{raw}" if factor == 1.0 else (
                f"{raw} || {literal(' ' + given_unit + ' (')} || CAST({value} AS VARCHAR) || {literal(unit + ')')}"
            )
            problems.append(
                f"CASE WHEN {present} AND {number} IS NULL THEN {literal(name + ': not a number: ')} || {raw} "
                f"WHEN {present} AND NOT ({value} BETWEEN {literal(low)} AND {literal(high)}) THEN "
                f"{literal(name + ': ')} || {shown} || {literal(' is outside the plausible range ' + _range(info) + unit)} END"
            )
        elif isinstance(t, Bool):
            lowered = f"lower({raw})"
            selected.append(f"CASE WHEN {present} THEN {lowered} = 'true' END AS {quote(name)}")
            problems.append(
                f"CASE WHEN {present} AND {lowered} NOT IN ('true', 'false') THEN "
                f"{literal(name + ': expected true or false, got ')} || {raw} END"
            )
        elif isinstance(t, Cat):
            values = ", ".join(literal(v) for v in t.values)
            selected.append(f"CASE WHEN {present} THEN {raw} END AS {quote(name)}")
            choices = ", ".join(t.values)
            problems.append(
                f"CASE WHEN {present} AND {raw} NOT IN ({values}) THEN "
                f"{literal(name + ': ')} || {raw} || {literal(' is not one of ' + choices)} END"
            )
    problem = f"concat_ws('; ', {', '.join(problems)})" if problems else "''"
    selected.append(f"{problem} AS _problem")
    return f"SELECT {', '.join(selected)} FROM {source}"


def _sql_type(info: InputInfo) -> str:
    if isinstance(info.type, Num):
        return "DOUBLE"
    if isinstance(info.type, Bool):
        return "BOOLEAN"
    return "VARCHAR"


def _range(info: InputInfo) -> str:
    from .data import format_number

    low, high = info.range
    return f"{format_number(low)}..{format_number(high)}"


def to_sql(checked: Checked, dialect: str = "duckdb", source: str = "patients") -> str:
    """The protocol's criteria as one SELECT over `source` (one row per patient)."""
    query = SqlGenerator(checked).criteria_query(source)
    if dialect == "duckdb":
        return query
    try:
        import sqlglot
    except ImportError:
        raise ImportError("SQL for other engines needs sqlglot: pip install 'protocol-dsl[screen]'") from None
    try:
        return sqlglot.transpile(query, read="duckdb", write=dialect)[0]
    except (ValueError, KeyError) as problem:  # sqlglot: an unknown dialect
        raise ValueError(f"unknown SQL dialect {dialect!r}: {problem}") from None


def summary_query(checked: Checked, source: str = "results") -> str:
    """One row: counts by status, the attrition in protocol order, and who lacks which input."""
    columns = ["count(*) AS patients"]
    for status in ("eligible", "ineligible", "undetermined"):
        columns.append(f"sum(CASE WHEN status = {literal(status)} THEN 1 ELSE 0 END) AS {quote(status)}")
    # The first criterion, in protocol order, that a patient fails: who each criterion removes.
    first = " ".join(
        f"WHEN {quote(c.id)} IS {'FALSE' if c.kind == 'inclusion' else 'TRUE'} THEN {index}"
        for index, c in enumerate(checked.criteria)
    )
    for index, c in enumerate(checked.criteria):  # (no criteria: no attrition columns)
        fails = f"{quote(c.id)} IS {'FALSE' if c.kind == 'inclusion' else 'TRUE'}"
        columns.append(f"sum(CASE WHEN (CASE {first} END) = {index} THEN 1 ELSE 0 END) AS {quote('removed:' + c.id)}")
        columns.append(f"sum(CASE WHEN {fails} THEN 1 ELSE 0 END) AS {quote('fails:' + c.id)}")
        columns.append(f"sum(CASE WHEN {quote(c.id)} IS NULL THEN 1 ELSE 0 END) AS {quote('unknown:' + c.id)}")
    for name in sorted(checked.inputs):
        columns.append(
            f"sum(CASE WHEN status = 'undetermined' AND (',' || missing || ',') LIKE {literal('%,' + name + ',%')} "
            f"THEN 1 ELSE 0 END) AS {quote('missing:' + name)}"
        )
    return f"SELECT {', '.join(columns)} FROM {source}"
