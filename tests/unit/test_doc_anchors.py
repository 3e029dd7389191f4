"""The docs' links into the code land on the lines they name (scripts/doc_anchors.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import doc_anchors


def test_every_named_anchor_in_the_docs_is_on_its_line():
    found = doc_anchors.anchors(doc_anchors.project_docs())
    assert len(found) > 100  # the docs do link into the code by name
    bad = [f"{a.doc.name}: [{a.label}]({a.path}#L{a.line})" for a in found if doc_anchors.stale(a)]
    assert not bad, "stale anchors (fix: python scripts/doc_anchors.py --fix):\n" + "\n".join(bad)


def test_a_moved_function_is_found_and_the_anchor_moved(tmp_path):
    (tmp_path / "code.py").write_text("import os\n\n\nclass Box:\n    def open(self):\n        pass\n\n\n"
                                      "def close(path):\n    return open(path)\n")
    doc = tmp_path / "doc.md"
    doc.write_text("[`close`](code.py#L2), [`Box.open`](code.py#L12), [`os`](code.py#L1),\n"
                   "[a file](code.py#L1)\n")
    found = doc_anchors.anchors([doc])
    assert [(a.name, a.line) for a in found] == [("close", 2), ("open", 12), ("os", 1)]  # "a file": no name
    assert [doc_anchors.stale(a) for a in found] == [True, True, False]
    assert doc_anchors.best_line(found[0]) == 9
    assert doc_anchors.best_line(found[1]) == 5  # the method, not the call on line 10
