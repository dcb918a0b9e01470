"""Hypothesis strategies shared by the property tests: token soup, protocols, patients."""

from __future__ import annotations

from decimal import Decimal

import attrs
from hypothesis import strategies as st

# ----------------------------------------------------------------- token soup
KEYWORDS = (
    "protocol", "input", "define", "inclusion", "exclusion", "if", "then", "else",
    "and", "or", "not", "in", "as", "at", "least", "of", "number", "boolean", "one",
    "range", "molar", "mass", "true", "false", "known", "round", "clamp", "ln", "max",
)
NAMES = ("x", "age", "INR", "PTA", "TB", "sex", "hcc", "I1", "E1", "_", "a1", "Ω", "é")
NUMBERS = ("0", "1", "1.5", "40", "0.1", "171", "-3", "1e3", "2E-2", "99999999999999999999", "1e999", "0.", ".5")
UNITS = (
    "%", "years", "months", "umol/L", "µmol/L", "mg/dL", "10^9/L", "'10*9/L'", "'/uL'",
    "mL/min/1.73m2", "umol/L/d", "g/mol", "'bogus'", "furlongs", "degC",
)
OPERATORS = (
    "<", "<=", ">", ">=", "=", "!=", "==", "≤", "≥", "≠", "+", "-", "*", "/", "..", ":",
    ",", "(", ")", "{", "}", "'", '"',
)
STRINGS = ('"female"', '"positive"', '"Aged 18-65 years"', '""', '"unterminated', '"a\\"b"')
LAYOUT = ("\n", "\n\n", "\t", "# a comment\n", "\r\n", " ")

TOKENS = KEYWORDS + NAMES + NUMBERS + UNITS + OPERATORS + STRINGS + LAYOUT


def token_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text assembled from the language's own tokens, glued with or without spaces."""
    pieces = st.tuples(st.sampled_from(TOKENS), st.sampled_from(("", " ", " ", "\n")))
    return st.lists(pieces, max_size=max_size).map(lambda parts: "".join(t + s for t, s in parts))


# ----------------------------------------------------------------- protocols
@attrs.frozen
class Alternative:
    """Another unit a number input may be given in; `factor` converts declared -> this unit."""

    unit: str
    factor: Decimal
    exact: bool = True  # whether the factor is an exact decimal (no margin needed at bounds)


@attrs.frozen
class NumberInput:
    """A number input of the generated protocols, with the literals that may be compared to it."""

    name: str
    unit: str  # "" for a plain number
    low: Decimal
    high: Decimal
    declaration: str
    places: int = 1
    alternatives: tuple[Alternative, ...] = ()


@attrs.frozen
class BooleanInput:
    name: str

    @property
    def declaration(self) -> str:
        return f'input {self.name}: boolean "{self.name} label"'


@attrs.frozen
class CategoryInput:
    name: str
    values: tuple[str, ...]

    @property
    def declaration(self) -> str:
        listed = ", ".join(repr_string(v) for v in self.values)
        return f"input {self.name}: one of {listed}"


NUMBER_INPUTS = (
    NumberInput(
        "age", "years", Decimal(0), Decimal(130), 'input age: number years range 0..130 "Age"', 0,
        # Days and weeks convert through non-decimal factors (1/365.25, 7/365.25), so they
        # are given only away from the range's bounds.
        (
            Alternative("months", Decimal(12)),
            Alternative("days", Decimal("365.25"), exact=False),
            Alternative("weeks", Decimal("52.17857142857143"), exact=False),
        ),
    ),
    NumberInput(
        "TB", "umol/L", Decimal(0), Decimal(1500),
        "input TB: number umol/L range 0..1500 molar mass 584.66 g/mol", 1,
        (
            Alternative("mmol/L", Decimal("0.001")),
            Alternative("µmol/L", Decimal(1)),
            Alternative("mg/dL", Decimal("0.058466"), exact=False),
        ),
    ),
    NumberInput("INR", "", Decimal("0.5"), Decimal(20), "input INR: number range 0.5..20", 2),
    NumberInput("PTA", "%", Decimal(0), Decimal(200), 'input PTA: number % range 0..200 "Prothrombin"', 0),
    NumberInput(
        "weight", "kg", Decimal(1), Decimal(400), "input weight: number kg range 1..400", 1,
        (Alternative("g", Decimal(1000)),),
    ),
    NumberInput(
        "plt", "10^9/L", Decimal(0), Decimal(2000), "input plt: number 10^9/L range 0..2000", 0,
        (Alternative("10*9/L", Decimal(1)), Alternative("/uL", Decimal(1000))),
    ),
    NumberInput("ratio", "", Decimal(-5), Decimal(5), "input ratio: number range -5..5", 2),
)
BOOLEAN_INPUTS = (BooleanInput("hcc"), BooleanInput("consent"), BooleanInput("pregnant"))
CATEGORY_INPUTS = (
    CategoryInput("sex", ("female", "male")),
    CategoryInput("hbsag", ("positive", "negative", "not done")),
    CategoryInput("note", ('say "hi"', "back\\slash", "{}", "é", "")),
)

# Literals compared with a number input: (text, value in the input's declared unit).
# Each input's literals use its own unit or a compatible spelling.
_LITERAL_UNITS = {
    "years": (("years", Decimal(1)), ("months", Decimal(12)), ("days", None)),
    "umol/L": (("umol/L", Decimal(1)), ("mmol/L", Decimal("0.001")), ("μmol/L", Decimal(1)), ("mg/dL", None)),
    "": (("", Decimal(1)),),
    "%": (("%", Decimal(1)),),
    "kg": (("kg", Decimal(1)), ("g", Decimal(1000))),
    "10^9/L": (("10^9/L", Decimal(1)), ("'10*9/L'", Decimal(1)), ("'/uL'", Decimal(1000))),
}


@attrs.frozen
class Generated:
    """A generated rules text and what it declares."""

    text: str
    numbers: tuple[NumberInput, ...]
    booleans: tuple[BooleanInput, ...]
    categories: tuple[CategoryInput, ...]
    uses_known: bool
    reads: dict  # criterion id -> the inputs it reads, through definitions
    may_be_undefined: bool  # whether some expression can be a domain error (x / 0, sqrt(-1))

    @property
    def inputs(self) -> tuple:
        return self.numbers + self.booleans + self.categories


def _decimal_between(draw, low: Decimal, high: Decimal, places: int) -> Decimal:
    scale = 10**places
    steps = draw(st.integers(int(low * scale), int(high * scale)))
    return Decimal(steps) / scale


def _literal(draw, number: NumberInput, mass: bool = False) -> str:
    """A number literal near the input's range, in a unit the input converts to.

    A mass unit for a substance input (mg/dL for umol/L) is drawn only when `mass`:
    its conversion needs the input's molar mass, which only the input itself carries.
    """
    spellings = [(u, f) for u, f in _LITERAL_UNITS[number.unit] if mass or u != "mg/dL"]
    unit, factor = draw(st.sampled_from(spellings))
    value = _decimal_between(draw, number.low, number.high, number.places)
    if factor is not None:
        value = value * factor
    text = format(value.normalize(), "f") if value else "0"
    if not unit:
        return text
    if unit == "%" and draw(st.booleans()):
        return f"{text}%"
    return f"{text} {unit}"


class _Builder:
    """Draws expressions over a fixed set of inputs."""

    def __init__(self, draw, generated_inputs, allow_known: bool):
        self.draw = draw
        self.numbers, self.booleans, self.categories = generated_inputs
        self.allow_known = allow_known
        self.used_known = False
        self.bool_definitions: list[str] = []
        self.definition_reads: dict[str, set[str]] = {}
        self.number_definitions: dict[str, NumberInput] = {}  # numeric definition -> the input it scales
        self.reads: set[str] = set()  # inputs read by the statement being built
        self.may_be_undefined = False

    def numeric(self, number: NumberInput, depth: int) -> str:
        """An expression in `number`'s unit (or plain, for a plain input)."""
        draw = self.draw
        name = number.name
        choices = ["name", "name", "plus", "times", "divide", "minmax", "abs", "paren", "negate"]
        if not number.unit:
            choices += ["ln", "round", "floor", "exp", "undefined"]
        if depth > 0:
            choices += ["if", "clamp"]
        definitions = [d for d, n in self.number_definitions.items() if n == number]
        if definitions:
            choices.append("definition")
        kind = draw(st.sampled_from(choices))
        if kind == "definition":
            definition = draw(st.sampled_from(definitions))
            self.reads |= self.definition_reads[definition]
            return definition
        self.reads.add(name)
        if kind == "name":
            return name
        if kind == "negate":
            return f"-(-{name})"
        if kind == "divide":
            return f"({name} / {draw(st.sampled_from(['2', '4', '0.5', '1.25']))})"
        if kind == "floor":
            return f"({draw(st.sampled_from(['floor', 'ceil']))}({name} * 10) / 10)"
        if kind == "exp":
            return f"ln(exp({name}))"
        if kind == "undefined":
            # Undefined for some patients: a division by zero, or the root of a negative number.
            self.may_be_undefined = True
            point = _literal(draw, number)
            return draw(st.sampled_from([f"({name} * {name} / ({name} - {point}))", f"(sqrt({name} - {point}) * sqrt({name} - {point}))"]))
        if kind == "clamp":
            self.may_be_undefined = True  # clamp(x, low, high) with low > high is undefined
            return f"clamp({self.numeric(number, depth - 1)}, {_literal(draw, number)}, {_literal(draw, number)})"
        if kind == "plus":
            op = draw(st.sampled_from(["+", "-"]))
            return f"({name} {op} {_literal(self.draw, number)})"
        if kind == "times":
            factor = draw(st.sampled_from(["2", "0.5", "1.5", "3", "0.1"]))
            return f"({name} * {factor})" if draw(st.booleans()) else f"({factor} * {name})"
        if kind == "minmax":
            fn = draw(st.sampled_from(["min", "max"]))
            return f"{fn}({name}, {_literal(self.draw, number)})"
        if kind == "abs":
            return f"abs({name})"
        if kind == "paren":
            return f"({self.numeric(number, depth - 1)})"
        if kind == "ln":
            return f"ln({name} + 6)"  # a plain input ranges down to -5: ln stays defined
        if kind == "round":
            return f"round({name}, {draw(st.integers(0, 2))})"
        # if C then A else B, both in the same unit
        return f"(if {self.boolean(depth - 1)} then {self.numeric(number, depth - 1)} else {self.numeric(number, depth - 1)})"

    def comparison(self, depth: int) -> str:
        draw = self.draw
        number = draw(st.sampled_from(self.numbers))
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "=", "!=", "≤", "≥", "==", "≠"]))
        left = self.numeric(number, depth)
        mass = left == number.name
        shape = draw(st.sampled_from(["right", "left", "chain", "two"] + ["as"] * bool(number.unit)))
        if shape == "right":
            return f"{left} {op} {_literal(draw, number, mass)}"
        if shape == "left":
            return f"{_literal(draw, number, mass)} {op} {left}"
        if shape == "two":
            return f"{left} {op} {self.numeric(number, depth)}"
        if shape == "as":
            unit, factor = draw(st.sampled_from([(u, f) for u, f in _LITERAL_UNITS[number.unit] if u and f is not None]))
            value = _decimal_between(draw, number.low, number.high, number.places) * factor
            return f"({left} as {unit}) {op} {format(value.normalize(), 'f') if value else '0'}"
        op1, op2, op3 = (draw(st.sampled_from(["<", "<=", "≤"])) for _ in range(3))
        if draw(st.booleans()):  # two literals side by side: neither may need the input's molar mass
            return f"{_literal(draw, number)} {op1} {left} {op2} {_literal(draw, number)} {op3} {_literal(draw, number)}"
        return f"{_literal(draw, number, mass)} {op1} {left} {op2} {_literal(draw, number, mass)}"

    def atom(self, depth: int) -> str:
        draw = self.draw
        choices = ["true", "false"]
        if self.booleans:
            choices += ["bool", "bool", "bool_equal"]
        if self.numbers:
            choices += ["compare", "compare", "compare"]
        if self.categories:
            choices += ["member", "equal"]
        if self.bool_definitions:
            choices.append("definition")
        if self.allow_known and (self.numbers or self.booleans):
            choices.append("known")
        kind = draw(st.sampled_from(choices))
        if kind in ("true", "false"):
            return kind
        if kind == "bool":
            name = draw(st.sampled_from(self.booleans)).name
            self.reads.add(name)
            return name
        if kind == "bool_equal":
            name = draw(st.sampled_from(self.booleans)).name
            self.reads.add(name)
            op = draw(st.sampled_from(["=", "!="]))
            other = draw(st.sampled_from(["true", "false"] + [b.name for b in self.booleans]))
            if other not in ("true", "false"):
                self.reads.add(other)
            return f"({name} {op} {other})"
        if kind == "compare":
            return self.comparison(depth)
        if kind == "definition":
            name = draw(st.sampled_from(self.bool_definitions))
            self.reads |= self.definition_reads[name]
            return name
        if kind == "known":
            self.used_known = True
            name = draw(st.sampled_from(self.numbers + self.booleans)).name
            self.reads.add(name)
            return f"known({name})"
        category = draw(st.sampled_from(self.categories))
        self.reads.add(category.name)
        if kind == "equal":
            op = draw(st.sampled_from(["=", "!="]))
            return f"{category.name} {op} {repr_string(draw(st.sampled_from(category.values)))}"
        chosen = draw(st.lists(st.sampled_from(category.values), min_size=1, max_size=3, unique=True))
        word = draw(st.sampled_from(["in", "not in"]))
        return f"{category.name} {word} {{{', '.join(repr_string(v) for v in chosen)}}}"

    def boolean(self, depth: int) -> str:
        draw = self.draw
        if depth <= 0:
            return self.atom(0)
        kind = draw(st.sampled_from(["atom", "atom", "and", "or", "not", "at_least", "if", "if_else"]))
        if kind == "atom":
            return self.atom(depth - 1)
        if kind in ("and", "or"):
            parts = draw(st.lists(st.just(None), min_size=2, max_size=3))
            return "(" + f" {kind} ".join(self.boolean(depth - 1) for _ in parts) + ")"
        if kind == "not":
            return f"not ({self.boolean(depth - 1)})"
        if kind == "at_least":
            count = draw(st.integers(2, 4))
            needed = draw(st.integers(0, count + 1))
            operands = ", ".join(self.boolean(depth - 1) for _ in range(count))
            return f"at least {needed} of ({operands})"
        if kind == "if":
            return f"(if {self.boolean(depth - 1)} then {self.boolean(depth - 1)})"
        return f"(if {self.boolean(depth - 1)} then {self.boolean(depth - 1)} else {self.boolean(depth - 1)})"


def repr_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def protocols(draw, allow_known: bool = True, max_depth: int = 3) -> Generated:
    """A well-typed rules file over a few declared inputs, with definitions and criteria."""
    numbers = tuple(draw(st.lists(st.sampled_from(NUMBER_INPUTS), min_size=1, max_size=3, unique=True)))
    booleans = tuple(draw(st.lists(st.sampled_from(BOOLEAN_INPUTS), max_size=2, unique=True)))
    categories = tuple(draw(st.lists(st.sampled_from(CATEGORY_INPUTS), max_size=2, unique=True)))
    builder = _Builder(draw, (numbers, booleans, categories), allow_known)
    lines = []
    if draw(st.booleans()):
        lines.append('protocol GEN01 "A generated protocol"')
    declarations = [i.declaration for i in numbers + booleans + categories]
    lines.extend(draw(st.permutations(declarations)))
    for index in range(draw(st.integers(0, 2))):
        number = draw(st.sampled_from(numbers))
        name = f"n{index}"
        builder.reads = set()
        lines.append(f"define {name} = {builder.numeric(number, draw(st.integers(0, max_depth)))}")
        builder.number_definitions[name] = number
        builder.definition_reads[name] = builder.reads
    for index in range(draw(st.integers(0, 2))):
        name = f"d{index}"
        builder.reads = set()
        lines.append(f"define {name} =\n    {builder.boolean(draw(st.integers(0, max_depth)))}")
        builder.bool_definitions.append(name)
        builder.definition_reads[name] = builder.reads
    reads = {}
    count = draw(st.integers(1, 4))
    for index in range(count):
        builder.reads = set()
        kind = draw(st.sampled_from(["inclusion", "exclusion"]))
        ident = f"{'I' if kind == 'inclusion' else 'E'}{index + 1}"
        text = draw(st.sampled_from(["", ' "Original text"', ' "≥ 18 years, 20%<PTA≤40%"']))
        expr = builder.boolean(draw(st.integers(0, max_depth)))
        lines.append(f"{kind} {ident}{text}: {expr}")
        reads[ident] = frozenset(builder.reads)
    return Generated(
        "\n".join(lines) + "\n", numbers, booleans, categories, builder.used_known, reads, builder.may_be_undefined
    )


# ----------------------------------------------------------------- patients
def _number_value(draw, number: NumberInput):
    """A valid value for a number input: a plain number, or a value with another unit."""
    value = _decimal_between(draw, number.low, number.high, number.places)
    usable = [a for a in number.alternatives if a.exact or number.low + 1 < value < number.high - 1]
    form = draw(st.sampled_from(["plain", "int_or_float", "declared_unit"] + ["other"] * bool(usable)))
    if form == "plain":
        return float(value)
    if form == "int_or_float":
        return int(value) if value == value.to_integral_value() else float(value)
    if form == "declared_unit":
        return {"value": float(value), "unit": number.unit} if number.unit else float(value)
    alternative = draw(st.sampled_from(usable))
    return {"value": float(value * alternative.factor), "unit": alternative.unit}


def value_for(draw, item):
    if isinstance(item, NumberInput):
        return _number_value(draw, item)
    if isinstance(item, BooleanInput):
        return draw(st.booleans())
    return draw(st.sampled_from(item.values))


@st.composite
def patients(draw, generated: Generated) -> dict:
    """Valid patient data: a random subset of the inputs, missing ones absent or null."""
    data = {}
    for item in generated.inputs:
        state = draw(st.sampled_from(["value", "value", "absent", "null"]))
        if state == "value":
            data[item.name] = value_for(draw, item)
        elif state == "null":
            data[item.name] = None
    return data


@st.composite
def completions(draw, generated: Generated, partial: dict) -> dict:
    """`partial` with every unknown input filled in with a valid value."""
    full = dict(partial)
    for item in generated.inputs:
        if full.get(item.name) is None:
            full[item.name] = value_for(draw, item)
    return full


def kleene_values() -> st.SearchStrategy:
    """True, false or unknown (None)."""
    return st.sampled_from([True, False, None])


# ----------------------------------------------------------------- differential protocols
# Used by tests/test_differential.py: protocols that reach every corner of the numeric
# rules (conversions through molar masses, functions, overflow, domain errors) and
# patients placed on, and a hair off, every threshold the protocol compares with.
@attrs.frozen
class DiffNumber:
    """A number input: its declaration, range, literal units and the units a patient may use."""

    name: str
    declaration: str
    low: float | None
    high: float | None
    places: int
    literal_units: tuple  # (spelling, factor declared -> spelling as Decimal, needs the molar mass)
    patient_units: tuple  # (spelling, factor declared -> spelling as Decimal)

    @property
    def plain(self) -> bool:
        return self.literal_units == (("", Decimal(1), False),)


DIFF_NUMBERS = (
    DiffNumber("TB", "input TB: number umol/L range 0..1500 molar mass 584.66 g/mol", 0.0, 1500.0, 1,
               (("umol/L", Decimal(1), False), ("mmol/L", Decimal("0.001"), False), ("mg/dL", Decimal("0.058466"), True)),
               (("mg/dL", Decimal("0.058466")), ("mmol/L", Decimal("0.001")), ("µmol/L", Decimal(1)))),
    DiffNumber("crea", "input crea: number mg/dL range 0..30 molar mass 113.12 g/mol", 0.0, 30.0, 2,
               (("mg/dL", Decimal(1), False), ("mg/L", Decimal(10), False),
                ("umol/L", Decimal(10000) / Decimal("113.12"), True)),
               (("umol/L", Decimal(10000) / Decimal("113.12")), ("mg/L", Decimal(10)))),
    DiffNumber("age", 'input age: number years range 0..130 "Age"', 0.0, 130.0, 0,
               (("years", Decimal(1), False), ("months", Decimal(12), False)),
               (("months", Decimal(12)), ("days", Decimal("365.25")), ("weeks", Decimal("365.25") / 7))),
    DiffNumber("INR", "input INR: number range 0.5..20", 0.5, 20.0, 2, (("", Decimal(1), False),), ()),
    DiffNumber("PTA", "input PTA: number % range 0..200", 0.0, 200.0, 0, (("%", Decimal(1), False),), ()),
    DiffNumber("ratio", "input ratio: number range -5..5", -5.0, 5.0, 3, (("", Decimal(1), False),), ()),
    DiffNumber("big", "input big: number", None, None, 2, (("", Decimal(1), False),), ()),
    DiffNumber("ecog", "input ecog: integer range 0..5", 0.0, 5.0, 0, (("", Decimal(1), False),), ()),
)
# Ordered scales: two inputs on one scale (comparable with each other) and one on another.
NYHA = ("I", "II", "III", "IV")
DIFF_ORDERED = (("nyha", NYHA), ("nyha_after", NYHA), ("grade", ("none", "mild", "severe")))
DIFF_BOOLEANS = ("hcc", "consent")
DIFF_CATEGORIES = (
    ("code", ("NA", "", "yes", "no")),
    ("sex", ("female", "male")),
    ("note", ('say "hi"', "back\\slash", "NA ")),
)
EXTREMES = (1e300, -1e300, 1e-300, -1e-300, 1.7976931348623157e308, 5e-324, 0.0, -0.0, 1e15 + 0.5,
            2**53 + 1, 10**20, 123.456, -7.5, 0.1 + 0.2)
OFFSETS = (0.0, 0.0, 1e-13, -1e-13, 1e-9, -1e-9)


@attrs.frozen
class DiffCase:
    """A generated protocol and its patients (data as given: numbers, {"value", "unit"}, None...)."""

    text: str
    patients: tuple


def _diff_decimal(draw, number: DiffNumber) -> Decimal:
    if number.low is None:
        return Decimal(repr(draw(st.sampled_from((0.0, 1.0, -1.0, 2.5, 1e300, 1e-300, 123.456, -7.5, 1e15, 710.0)))))
    return _decimal_between(draw, Decimal(repr(number.low)), Decimal(repr(number.high)), number.places)


def _decimal_text(value: Decimal) -> str:
    if value == 0:
        return "0"
    if abs(value) >= Decimal("1e16") or abs(value) < Decimal("1e-6"):
        return format(value.normalize(), "e").replace("e+", "e")
    return format(value.normalize(), "f")


class _DiffBuilder:
    def __init__(self, draw, numbers, booleans, categories, ordered=()):
        self.draw = draw
        self.numbers, self.booleans, self.categories = numbers, booleans, categories
        self.ordered = ordered
        self.thresholds: dict[str, list] = {n.name: [] for n in numbers}  # (declared value, (value, unit) | None)
        self.number_definitions: dict[str, DiffNumber] = {}
        self.bool_definitions: list[str] = []

    def literal(self, number: DiffNumber, mass: bool, record: bool = True) -> str:
        draw = self.draw
        units_ = [u for u in number.literal_units if mass or not u[2]]
        unit, factor, _ = draw(st.sampled_from(units_))
        value = _diff_decimal(draw, number) * factor
        if number.places and draw(st.booleans()):
            value = value.quantize(Decimal(1).scaleb(-number.places - 1)) if abs(value) < Decimal("1e12") else value
        text = _decimal_text(value)
        if record:
            exact = (float(text), unit) if unit and factor != 1 else None
            self.thresholds[number.name].append((float(Decimal(text) / factor), exact))
        if not unit:
            return text
        return f"{text}%" if unit == "%" and draw(st.booleans()) else f"{text} {unit}"

    def numeric(self, number: DiffNumber, depth: int) -> str:
        """An expression in the input's declared unit."""
        draw = self.draw
        choices = ["name", "name", "name", "plus", "times", "minmax", "abs", "negate"]
        if depth > 0:
            choices += ["if", "clamp"]
        definitions = [d for d, n in self.number_definitions.items() if n == number]
        if definitions:
            choices.append("definition")
        if number.plain and depth > 0:
            choices += ["plain"] * 3
        kind = draw(st.sampled_from(choices))
        name = number.name
        if kind == "name":
            return name
        if kind == "definition":
            return draw(st.sampled_from(definitions))
        if kind == "plain":
            return self.plain(number, depth - 1)
        inner = self.numeric(number, depth - 1) if depth > 0 else name
        if kind == "plus":
            return f"({inner} {draw(st.sampled_from(['+', '-']))} {self.literal(number, False, record=False)})"
        if kind == "times":
            k = draw(st.sampled_from(["2", "0.5", "3", "1.1", "1e-3", "10"]))
            return draw(st.sampled_from([f"({inner} * {k})", f"({k} * {inner})", f"({inner} / {k})"]))
        if kind == "minmax":
            return f"{draw(st.sampled_from(['min', 'max']))}({inner}, {self.literal(number, False)})"
        if kind == "abs":
            return f"abs({inner})"
        if kind == "negate":
            return f"-(-{inner})"
        if kind == "clamp":
            return f"clamp({inner}, {self.literal(number, False)}, {self.literal(number, False)})"
        return f"(if {self.boolean(depth - 1)} then {inner} else {self.numeric(number, depth - 1)})"

    def plain(self, number: DiffNumber, depth: int) -> str:
        """A plain number computed from the input: `as`, then the numeric functions."""
        draw = self.draw
        if number.plain:
            base = self.numeric(number, depth) if depth > 0 and draw(st.booleans()) else number.name
        else:
            unit, _, needs_mass = draw(st.sampled_from(number.literal_units))
            base = f"({number.name} as {unit})" if needs_mass else f"({self.numeric(number, depth)} as {unit})"
        kind = draw(st.sampled_from(["base", "ln", "log10", "exp", "sqrt", "round", "round2", "floor", "ceil",
                                     "square", "divide", "abs", "minmax", "power", "exponent"]))
        if kind == "base":
            return base
        if kind == "power":  # a negative base to a fraction, 0 to a negative power, overflow: unknown
            return f"({base} ^ {draw(st.sampled_from(['2', '3', '0.5', '-1', '-2', '1.5', '-0.5', '200']))})"
        if kind == "exponent":
            return f"({draw(st.sampled_from(['2', '0.5', '10', '(-2)', '0', '1.1']))} ^ {base})"
        if kind in ("ln", "log10", "exp", "sqrt", "floor", "ceil", "abs"):
            return f"{kind}({base})"
        if kind == "round":
            return f"round({base})"
        if kind == "round2":
            return f"round({base}, {draw(st.integers(0, 3))})"
        if kind == "square":
            return f"({base} * {base})"
        if kind == "divide":
            return f"(1 / ({base} - {draw(st.sampled_from(['0', '1', '2.5', '18']))}))"
        return f"{draw(st.sampled_from(['min', 'max']))}({base}, {draw(st.sampled_from(['0', '1.5', '-2', '1e300']))})"

    def comparison(self, depth: int) -> str:
        draw = self.draw
        number = draw(st.sampled_from(self.numbers))
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "=", "!=", "≤", "≥", "==", "≠"]))
        left = self.numeric(number, depth)
        mass = left == number.name
        shape = draw(st.sampled_from(["right", "left", "chain", "chain3", "two", "plain"]))
        if shape == "right":
            return f"{left} {op} {self.literal(number, mass)}"
        if shape == "left":
            return f"{self.literal(number, mass)} {op} {left}"
        if shape == "two":
            return f"{left} {op} {self.numeric(number, depth)}"
        if shape == "plain":
            value = draw(st.sampled_from(["0", "1", "2.5", "-1", "0.7", "100", "1e-300", "1e300"]))
            return f"{self.plain(number, depth)} {op} {value}"
        ops = [draw(st.sampled_from(["<", "<=", "≤", ">", ">=", "="])) for _ in range(3)]
        if shape == "chain":
            return f"{self.literal(number, mass)} {ops[0]} {left} {ops[1]} {self.literal(number, mass)}"
        return (f"{self.literal(number, False)} {ops[0]} {left} {ops[1]} {self.literal(number, False)} "
                f"{ops[2]} {self.literal(number, False)}")

    def atom(self, depth: int) -> str:
        draw = self.draw
        choices = ["true", "false", "compare", "compare", "compare", "compare"]
        if self.booleans:
            choices += ["bool", "bool_equal"]
        if self.categories:
            choices += ["member", "equal"]
        if self.ordered:
            choices += ["order", "order"]
        if any(n.plain for n in self.numbers):
            choices.append("number_member")
        if self.bool_definitions:
            choices.append("definition")
        choices.append("known")
        kind = draw(st.sampled_from(choices))
        if kind in ("true", "false"):
            return kind
        if kind == "compare":
            return self.comparison(depth)
        if kind == "bool":
            return draw(st.sampled_from(self.booleans))
        if kind == "bool_equal":
            other = draw(st.sampled_from(["true", "false", *self.booleans]))
            return f"({draw(st.sampled_from(self.booleans))} {draw(st.sampled_from(['=', '!=']))} {other})"
        if kind == "definition":
            return draw(st.sampled_from(self.bool_definitions))
        if kind == "order":
            return self.order()
        if kind == "number_member":
            number = draw(st.sampled_from([n for n in self.numbers if n.plain]))
            chosen = draw(st.lists(st.sampled_from(["0", "1", "2", "-1", "2.5", "0.5", "5"]), min_size=1, max_size=3))
            return f"{number.name} {draw(st.sampled_from(['in', 'not in']))} {{{', '.join(chosen)}}}"
        if kind == "known":
            names = [n.name for n in self.numbers] + list(self.booleans) + [c for c, _ in self.categories]
            names += list(self.number_definitions) + self.bool_definitions
            return f"known({draw(st.sampled_from(names))})"
        name, values = draw(st.sampled_from(self.categories))
        if kind == "equal":
            return f"{name} {draw(st.sampled_from(['=', '!=']))} {repr_string(draw(st.sampled_from(values)))}"
        chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
        return f"{name} {draw(st.sampled_from(['in', 'not in']))} {{{', '.join(repr_string(v) for v in chosen)}}}"

    def order(self) -> str:
        """An ordering of a scale: against its values, in a chain, or against another input on it."""
        draw = self.draw
        name, values = draw(st.sampled_from(self.ordered))
        value = lambda: repr_string(draw(st.sampled_from(values)))  # noqa: E731
        op = lambda: draw(st.sampled_from(["<", "<=", ">", ">=", "=", "!=", "≤", "≥"]))  # noqa: E731
        same = [n for n, v in self.ordered if v == values and n != name]
        shape = draw(st.sampled_from(["right", "left", "chain", "member"] + ["two"] * bool(same)))
        if shape == "right":
            return f"{name} {op()} {value()}"
        if shape == "left":
            return f"{value()} {op()} {name}"
        if shape == "chain":
            return f"{value()} {op()} {name} {op()} {value()}"
        if shape == "member":
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
            return f"{name} {draw(st.sampled_from(['in', 'not in']))} {{{', '.join(repr_string(v) for v in chosen)}}}"
        return f"{name} {op()} {draw(st.sampled_from(same))}"

    def boolean(self, depth: int) -> str:
        draw = self.draw
        if depth <= 0:
            return self.atom(0)
        kind = draw(st.sampled_from(["atom", "atom", "and", "or", "not", "at_least", "if", "if_else"]))
        if kind == "atom":
            return self.atom(depth - 1)
        if kind in ("and", "or"):
            count = draw(st.integers(2, 3))
            return "(" + f" {kind} ".join(self.boolean(depth - 1) for _ in range(count)) + ")"
        if kind == "not":
            return f"not ({self.boolean(depth - 1)})"
        if kind == "at_least":
            count = draw(st.integers(2, 4))
            needed = draw(st.integers(0, count + 1))
            return f"at least {needed} of ({', '.join(self.boolean(depth - 1) for _ in range(count))})"
        if kind == "if":
            return f"(if {self.boolean(depth - 1)} then {self.boolean(depth - 1)})"
        return f"(if {self.boolean(depth - 1)} then {self.boolean(depth - 1)} else {self.boolean(depth - 1)})"


def _diff_number_value(draw, number: DiffNumber, thresholds: list):
    forms = ["random", "range_end", "other_unit"] + ["threshold"] * 4 * bool(thresholds)
    if number.low is None:
        forms += ["extreme"] * 3
    form = draw(st.sampled_from(forms))
    if form == "extreme":
        return draw(st.sampled_from(EXTREMES))
    if form == "range_end":
        if number.low is None:
            return draw(st.sampled_from(EXTREMES))
        return draw(st.sampled_from([number.low, number.high, int(number.low), int(number.high)]))
    if form == "other_unit" and number.patient_units:
        unit, factor = draw(st.sampled_from(number.patient_units))
        return {"value": float(_diff_decimal(draw, number) * factor), "unit": unit}
    if form in ("random", "other_unit"):
        value = _diff_decimal(draw, number)
        return int(value) if value == value.to_integral_value() and abs(value) < 10**15 and draw(st.booleans()) \
            else float(value)
    value, exact = draw(st.sampled_from(thresholds))
    offset = draw(st.sampled_from(OFFSETS))
    relative = draw(st.booleans())
    if exact is not None and draw(st.booleans()):
        given, unit = exact
        given = given * (1 + offset) if relative else given + offset
        return {"value": given, "unit": unit}
    value = value * (1 + offset) if relative else value + offset
    if number.low is not None:
        value = min(max(value, number.low), number.high)
    return value


@st.composite
def differential_cases(draw, max_depth: int = 3, max_patients: int = 8) -> DiffCase:
    """A protocol over a few inputs and patients on and around its thresholds."""
    numbers = tuple(draw(st.lists(st.sampled_from(DIFF_NUMBERS), min_size=1, max_size=3, unique=True)))
    booleans = tuple(draw(st.lists(st.sampled_from(DIFF_BOOLEANS), max_size=2, unique=True)))
    categories = tuple(draw(st.lists(st.sampled_from(DIFF_CATEGORIES), max_size=2, unique=True)))
    ordered = tuple(draw(st.lists(st.sampled_from(DIFF_ORDERED), max_size=2, unique=True)))
    builder = _DiffBuilder(draw, numbers, booleans, categories, ordered)
    lines = [n.declaration for n in numbers] + [f"input {b}: boolean" for b in booleans]
    lines += [f"input {name}: one of {', '.join(repr_string(v) for v in values)}" for name, values in categories]
    lines += [f"input {name}: ordered {', '.join(repr_string(v) for v in values)}" for name, values in ordered]
    lines = list(draw(st.permutations(lines)))
    for index in range(draw(st.integers(0, 2))):
        number = draw(st.sampled_from(numbers))
        lines.append(f"define n{index} = {builder.numeric(number, draw(st.integers(0, max_depth)))}")
        builder.number_definitions[f"n{index}"] = number
    for index in range(draw(st.integers(0, 2))):
        lines.append(f"define d{index} = {builder.boolean(draw(st.integers(0, max_depth)))}")
        builder.bool_definitions.append(f"d{index}")
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["inclusion", "exclusion"]))
        lines.append(f"{kind} {kind[0].upper()}{index + 1}: {builder.boolean(draw(st.integers(0, max_depth)))}")
    patients = []
    for _ in range(draw(st.integers(1, max_patients))):
        complete = draw(st.booleans())
        data: dict = {}
        for number in numbers:
            if complete or draw(st.integers(0, 3)):
                data[number.name] = _diff_number_value(draw, number, builder.thresholds[number.name])
            elif draw(st.booleans()):
                data[number.name] = None
        for name in booleans:
            if complete or draw(st.integers(0, 3)):
                data[name] = draw(st.booleans())
        for name, values in categories + ordered:
            if complete or draw(st.integers(0, 3)):
                data[name] = draw(st.sampled_from(values))
        patients.append(data)
    return DiffCase("\n".join(lines) + "\n", tuple(patients))
