"""Every ```python block of README.md runs as written.

The rule (README.md says it too, above its first block): each ``## `` section of the
README is one Python session. Its blocks run in order in one namespace that starts with
``import numpy as np`` and ``import fusegraph as fg`` done and nothing else, so a block
may use what the blocks before it *in the same section* defined, never another section's.
The text before the first ``## `` heading is a section too. A block is not run only when
its first line is a comment ``# not run by tests/test_readme.py: <reason>`` (visible to the
reader, with a reason: it needs ``mpirun``, a GPU, ...).

Each section runs in a fresh temporary folder as the current directory (files the blocks
write land there) and a fresh session (``fg.utils.clear_session()``), on the default
backend; the blocks keep their data small and their epochs few, so the whole file runs in
seconds. A failing block's traceback names README.md and its line there.
"""
import re
from pathlib import Path

import pytest

import fusegraph as fg

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = "# not run by tests/test_readme.py:"
_FENCE = re.compile(r"^```(\w*)\s*$")


def readme_sections(text: str) -> dict:
    """``{section title: [(first line number, code), ...]}`` of the ```python blocks, in
    order; the text before the first ``## `` heading is the section ``(top)``."""
    sections: dict = {"(top)": []}
    title, block, start = "(top)", None, 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if block is not None:
            if fence and not fence[1]:
                sections[title].append((start, "\n".join(block)))
                block = None
            else:
                block.append(line)
        elif fence and fence[1] == "python":
            block, start = [], number + 1
        elif line.startswith("## "):
            title = line[3:].strip()
            sections.setdefault(title, [])
    return {t: blocks for t, blocks in sections.items() if blocks}


SECTIONS = readme_sections(README.read_text())


def test_the_readme_has_python_blocks_and_skips_say_why():
    assert sum(len(b) for b in SECTIONS.values()) >= 5
    for blocks in SECTIONS.values():
        for start, code in blocks:
            first = code.splitlines()[0]
            if first.startswith(SKIP):
                assert first[len(SKIP):].strip(), f"README.md:{start}: a skip needs a reason"


def test_the_parser_keeps_sections_apart():
    text = ("intro\n```python\na = 1\n```\n## One\n```bash\nls\n```\n```python\nb = 2\n"
            "c = 3\n```\n## Two\ntext\n```\nnot python\n```\n")
    assert readme_sections(text) == {"(top)": [(3, "a = 1")], "One": [(10, "b = 2\nc = 3")]}


@pytest.mark.parametrize("title", list(SECTIONS))
def test_readme_section_runs(title, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fg.utils.clear_session()
    namespace = {"__name__": "__readme__"}
    exec("import numpy as np\nimport fusegraph as fg", namespace)
    ran = 0
    for start, code in SECTIONS[title]:
        if code.startswith(SKIP):
            continue
        source = "\n" * (start - 1) + code      # tracebacks show README.md's line numbers
        exec(compile(source, str(README), "exec"), namespace)
        ran += 1
    capsys.readouterr()
    assert ran > 0 or all(code.startswith(SKIP) for _, code in SECTIONS[title])
