"""The example trials (examples/trials): criteria of seven kinds of real protocol, in natural form."""

from pathlib import Path

from protocol_dsl.cli import main

TRIALS = Path(__file__).resolve().parent.parent / "examples" / "trials"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_every_trial_checks_clean_and_is_formatted(capsys):
    assert run(["check", "--strict", TRIALS], capsys)[0] == 0
    assert run(["fmt", "--check", TRIALS], capsys)[0] == 0


def test_every_case_of_every_trial_passes(capsys):
    code, out, _ = run(["test", TRIALS], capsys)
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "187 passed, 0 failed"
