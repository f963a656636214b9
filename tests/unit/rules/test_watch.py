import os
from pathlib import Path

from vitalwatch.rules.watch import RuleWatcher


def test_watcher_reports_each_edit_once(tmp_path: Path) -> None:
    rule_file = tmp_path / "a.yaml"
    rule_file.write_text("rules: []\n")
    watcher = RuleWatcher(tmp_path)
    assert not watcher.changed()
    rule_file.write_text("rules: [] # edited\n")
    assert watcher.changed()
    assert not watcher.changed()
    (tmp_path / "b.yaml").write_text("rules: []\n")
    assert watcher.changed()
    os.utime(rule_file, ns=(1, 1))  # same size, other mtime (an editor's save)
    assert watcher.changed()
    (tmp_path / "notes.txt").write_text("not a rule file")
    assert not watcher.changed()
