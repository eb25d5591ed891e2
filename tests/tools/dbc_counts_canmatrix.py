#!/usr/bin/python3
"""Message and signal counts of DBC files as Debian's python3-canmatrix
loads them: one line "FILE messages N signals N" per file, or
"FILE error: ..." when canmatrix cannot load it.

    dbc_counts_canmatrix.py FILE.dbc...

Used to derive the expected signal counts of the cantools corpus in
tests/unit/test_dbc.c (docs/DBC.md says where canopy differs, and why).
"""
import contextlib
import io
import logging
import os
import sys

logging.disable(logging.CRITICAL)
import canmatrix.formats  # noqa: E402


def main():
    for path in sys.argv[1:]:
        name = os.path.basename(path)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # canmatrix prints
                dbs = canmatrix.formats.loadp(path, import_type="dbc")
            db = dbs[next(iter(dbs))]
            frames = [f for f in db.frames if f.name != "VECTOR__INDEPENDENT_SIG_MSG"]
            print("%s messages %d signals %d" % (
                name, len(frames), sum(len(f.signals) for f in frames)))
        except Exception as e:  # canmatrix raises anything
            print("%s error: %s" % (name, str(e).splitlines()[0] if str(e) else type(e).__name__))


if __name__ == "__main__":
    main()
