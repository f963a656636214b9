"""Notice edits to the rule files: a fingerprint of names, sizes and modification times."""

from __future__ import annotations

from pathlib import Path


def rules_fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    files = [directory] if directory.is_file() else sorted(directory.glob("*.yaml"))
    entries = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between glob and stat
            continue
        entries.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


class RuleWatcher:
    """``changed()`` is true once per edit of the directory's rule files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen = rules_fingerprint(directory)

    def changed(self) -> bool:
        current = rules_fingerprint(self.directory)
        if current == self._seen:
            return False
        self._seen = current
        return True
