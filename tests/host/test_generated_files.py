# The committed tables (firmware/pot/*_tables.py,
# ed25519_table.py, golay_syndrome.py) and vector files (tests/vectors/*.txt)
# are what the generators in tools/gen/ make today: every tools/gen/gen_*.py is run
# with --check (found by name, so a new generator is checked too), and the
# shared write-or-check step (tools/gen/genlib.py) is shown to catch a stale or
# missing file without ever writing in --check mode.
import glob
import os
import subprocess
import sys

import pytest

import genlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATORS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "tools", "gen", "gen_*.py")))


def test_generators_are_found():
    for name in ("gen_tables.py", "gen_vectors.py", "gen_ed25519_vectors.py", "gen_link_vectors.py"):
        assert name in GENERATORS


@pytest.mark.parametrize("tool", GENERATORS)
def test_committed_output_is_current(tool):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen", tool), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


def test_check_mode_reports_stale_and_missing_files_and_writes_nothing(tmp_path, capsys):
    current, stale, missing = (str(tmp_path / n) for n in ("current.txt", "stale.txt", "missing.txt"))
    for path, text in ((current, "# c\n1 ab\n"), (stale, "# old\n")):
        with open(path, "w") as f:
            f.write(text)
    outputs = {current: "# c\n1 ab\n", stale: "# new\n", missing: "x\n"}
    assert genlib.write_or_check("demo", {current: outputs[current]}, check=True) == 0
    assert genlib.write_or_check("demo", outputs, check=True) == 1
    out = capsys.readouterr().out
    assert "stale.txt" in out and "missing.txt" in out and "current.txt (run" not in out
    with open(stale) as f:
        assert f.read() == "# old\n"
    assert not os.path.exists(missing)
    # Writing makes them current.
    assert genlib.write_or_check("demo", outputs, check=False) == 0
    assert genlib.write_or_check("demo", outputs, check=True) == 0
    with open(missing) as f:
        assert f.read() == "x\n"
