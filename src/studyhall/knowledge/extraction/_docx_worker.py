"""Child entry point for DOCX extraction (`python -m ... CONFIG_JSON < file.docx`).

Applies the memory and CPU limits to itself, then inflates the archive with the counting reader
(zipsafe) and extracts the text; prints {"ok", "title", "text"} or {"ok": false, "error"}.
"""

from __future__ import annotations

import json
import sys

from studyhall.knowledge.extraction.isolation import apply_limits


def main() -> int:
    """Limits first, then read stdin, extract, print JSON."""
    params = json.loads(sys.argv[1])
    # Import before the address-space cap: the imports are ours, not the attacker's.
    from studyhall.knowledge.extraction.docx import docx_raw

    apply_limits(int(params["memory_mb"]), int(params["cpu_s"]))
    data = sys.stdin.buffer.read()
    try:
        result = docx_raw(data, max_unzipped_bytes=int(params["max_unzipped_bytes"]))
    except MemoryError:
        result = {"ok": False, "error": "the DOCX needs more memory than allowed"}
    except RecursionError:
        result = {"ok": False, "error": "the DOCX is nested too deeply"}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
