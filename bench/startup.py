"""Start-up costs: `import protocol_dsl`, compiling the seed file, a cold `protocol-dsl check`.

Fresh interpreters for the import and the command (one warm-up run first, so the files
are in the page cache: "cold" is a new process, not a cold disk); the compile is timed
in this process after a first load (warm: the grammar, the unit registry and unit
conversions are built once per process).

Run alone: `python bench/startup.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, SEED_FILE, SEED_NAME, median_ms

import protocol_dsl

IMPORT_RUNS = 11
CHECK_RUNS = 9
COMPILE_RUNS = 30

_IMPORT_CODE = "import time; t = time.perf_counter(); import protocol_dsl; print((time.perf_counter() - t) * 1e3)"


def import_ms() -> list[float]:
    subprocess.check_output([sys.executable, "-c", _IMPORT_CODE], cwd=ROOT)  # warm-up
    return [float(subprocess.check_output([sys.executable, "-c", _IMPORT_CODE], cwd=ROOT, text=True))
            for _ in range(IMPORT_RUNS)]


def slowest_imports(count: int = 8) -> list[tuple[str, float]]:
    """The modules whose own import time (-X importtime, self) is largest in `import protocol_dsl`."""
    output = subprocess.run([sys.executable, "-X", "importtime", "-c", "import protocol_dsl"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stderr
    rows = []
    for line in output.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header, or another message
        rows.append((fields[2].strip(), int(fields[0]) / 1e3))
    return sorted(rows, key=lambda row: row[1], reverse=True)[:count]


def check_command() -> list[str]:
    script = Path(sys.executable).with_name("protocol-dsl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "protocol_dsl"]


# The same command in an interpreter where numpy cannot be imported: pint, which
# protocol-dsl loads for unit conversions, imports numpy whenever it is installed.
_WITHOUT_NUMPY = (
    "import sys; sys.modules['numpy'] = None; from protocol_dsl.cli import main; "
    f"sys.argv = ['protocol-dsl', 'check', {SEED_NAME!r}]; sys.exit(main())"
)


def _wall_ms(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return (time.perf_counter() - start) * 1e3


def cold_check_ms() -> dict[str, list[float]]:
    """Wall milliseconds of `protocol-dsl check SEED` in new processes, and of `python -c pass`."""
    commands = {
        "check": check_command() + ["check", SEED_NAME],
        "check without numpy": [sys.executable, "-c", _WITHOUT_NUMPY],
        "python": [sys.executable, "-c", "pass"],
    }
    for command in commands.values():
        _wall_ms(command)  # warm-up
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(CHECK_RUNS):  # round-robin
        for name, command in commands.items():
            runs[name].append(_wall_ms(command))
    return runs


def pint_import_ms() -> dict[str, float]:
    """`import pint` in a fresh interpreter, with numpy importable and without (median of 5)."""
    timed = "import time; t = time.perf_counter(); import pint; print((time.perf_counter() - t) * 1e3)"
    variants = {"with numpy": timed, "without numpy": "import sys; sys.modules['numpy'] = None; " + timed}
    return {name: statistics.median(float(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT, text=True))
                                    for _ in range(5))
            for name, code in variants.items()}


def first_load_ms() -> float:
    """The first `load` of the seed file in a fresh interpreter (median of 5)."""
    code = ("import time, protocol_dsl; t = time.perf_counter(); "
            f"protocol_dsl.load({SEED_NAME!r}); print((time.perf_counter() - t) * 1e3)")
    return statistics.median(float(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT, text=True))
                             for _ in range(5))


def compile_phases() -> dict[str, float]:
    """Warm median milliseconds of parse, check and compile (code generation) of the seed file."""
    from protocol_dsl.checker import check
    from protocol_dsl.protocol import Protocol
    from protocol_dsl.parser import parse_source
    from protocol_dsl.source import Source

    text = SEED_FILE.read_text(encoding="utf-8")
    source = Source(text, SEED_NAME)
    tree = parse_source(source)
    checked = check(source, tree)
    return {
        "parse": median_ms(lambda: parse_source(Source(text, SEED_NAME)), COMPILE_RUNS)[0],
        "check": median_ms(lambda: check(source, tree), COMPILE_RUNS)[0],
        "compile": median_ms(lambda: Protocol(checked), COMPILE_RUNS)[0],
    }


def run() -> dict:
    protocol_dsl.load(SEED_FILE)
    warm = median_ms(lambda: protocol_dsl.load(SEED_FILE), COMPILE_RUNS)
    imports = import_ms()
    checks = cold_check_ms()
    return {
        "first_load_ms": first_load_ms(),
        "warm_load_ms": warm,
        "phases_ms": compile_phases(),
        "import_ms": imports,
        "slowest_imports": slowest_imports(),
        "check_ms": checks["check"],
        "check_without_numpy_ms": checks["check without numpy"],
        "python_ms": checks["python"],
        "pint_import_ms": pint_import_ms(),
        "check_command": f"protocol-dsl check {SEED_NAME}",
    }


def summary(result: dict) -> dict:
    return {
        "import": statistics.median(result["import_ms"]),
        "warm_compile": result["warm_load_ms"][0],
        "cold_check": statistics.median(result["check_ms"]),
    }


if __name__ == "__main__":
    outcome = run()
    for key, value in outcome.items():
        print(f"{key}: {value}")
