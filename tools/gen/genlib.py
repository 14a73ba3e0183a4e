"""What the generators in tools/gen/ (gen_*.py) share: the repository root, the
'-' convention of the vector files, and the last step of every generator,
"write the files" or, with --check, "compare them with the committed ones".

Every generator builds all its outputs in memory as {path: text} and hands
them to write_or_check(), so --check is the same everywhere: it never
writes, names each file that differs or is missing, and exits 1 if any
does (tests/host/test_generated_files.py runs every tools/gen/gen_*.py --check;
`make check-generated` does the same from the shell).

CPython only (the generators are host tools), no third-party imports.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = os.path.join(ROOT, "tests", "vectors")


def hx(b):
    # A hex field of a vector file: '-' stands for empty bytes.
    return b.hex() if b else "-"


def _committed(path):
    # The file's current text, or None when it does not exist.
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _vector_count(text):
    # Vector files (tests/vectors/*.txt): every non-empty line that is not a
    # '#' comment is one vector.
    return sum(1 for line in text.splitlines() if line and line[0] != "#")


def write_or_check(tool, outputs, check):
    """Write outputs ({path: text}), or with check=True only compare them with
    the files on disk. Prints one line per file; returns the exit status
    (1 when checking and some file is stale or missing, else 0)."""
    stale = 0
    for path, text in outputs.items():
        rel = os.path.relpath(path, ROOT)
        if check:
            if _committed(path) != text:
                stale += 1
                print("%s: STALE or missing: %s (run tools/%s.py)" % (tool, rel, tool))
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        extra = " (%d vectors)" % _vector_count(text) if path.endswith(".txt") else ""
        print("%s: wrote %s%s" % (tool, rel, extra))
    if check and not stale:
        print("%s: %d file(s) current" % (tool, len(outputs)))
    return 1 if stale else 0
