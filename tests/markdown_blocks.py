"""Code blocks of the documentation, so tests can run exactly what the docs show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```((\w*)[^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    info: str  # the whole info string: `sh daemon`
    language: str  # its first word: `sh`
    text: str
    line: int  # where the block starts in the file, for failure messages

    @property
    def file_name(self) -> str | None:
        """A block whose first line is `# file: NAME` is meant to be saved as NAME."""
        first = self.text.partition("\n")[0]
        return first.removeprefix("# file:").strip() if first.startswith("# file:") else None


def blocks(path: Path, language: str | None = None) -> list[Block]:
    """Every fenced block of a markdown file (of one language, if given), in order."""
    text = path.read_text()
    found = [
        Block(match[1].strip(), match[2], match[3], text.count("\n", 0, match.start()) + 1)
        for match in _FENCE.finditer(text)
    ]
    return [b for b in found if language is None or b.language == language]
