"""What the golden-file generators share: writing a golden file next to the Rust tests."""

import os


def write_golden(name, header, lines):
    """Writes tests/golden/<name>: a `# header` line, then the tab-separated lines."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# " + header + "\n")
        for line in lines:
            f.write(line + "\n")
    print("wrote %d lines to %s" % (len(lines), path))
