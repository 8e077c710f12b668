"""difftone.files: atomic folders and the one CSV reader's errors."""

import pandas as pd
import pytest

from difftone.files import TableError, atomic_folder, read_csv


def test_atomic_folder_replaces_only_on_success(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(final) as tmp:
            (tmp / "new.txt").write_text("half")
            raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (final / "old.txt").read_text() == "old"
    with atomic_folder(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_read_csv_returns_the_table_with_the_read_options(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2], "b": ["x", ""]}).to_csv(path, index=False)
    table = read_csv(path, ["a", "b"], what="the test stage", keep_default_na=False)
    assert table["a"].tolist() == [1, 2] and table["b"].tolist() == ["x", ""]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, r"t\.csv does not exist; run the edit stage first"),
        ("", r"t\.csv is empty \(not even a header\); rerun the edit stage"),
        ("a,c\n1,2\n", r"t\.csv lacks column\(s\) b \(it has a, c\); rerun the edit stage"),
        ("a,b\n", r"t\.csv has no rows; rerun the edit stage"),
    ],
)
def test_read_csv_errors_name_the_file_and_what_writes_it(tmp_path, content, message):
    path = tmp_path / "t.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TableError, match=message):
        read_csv(path, ["a", "b"], what="the edit stage")


def test_read_csv_raises_the_callers_error_and_may_allow_empty(tmp_path):
    class StageError(ValueError):
        pass

    path = tmp_path / "t.csv"
    path.write_text("a,b\n")
    assert read_csv(path, ["a"], what="x", allow_empty=True).empty
    with pytest.raises(StageError, match="no rows"):
        read_csv(path, ["a"], what="x", error=StageError)


def test_link_tree_hard_links_every_file_replaces_the_folder_and_logs(tmp_path):
    from difftone.files import link_tree

    src = tmp_path / "job" / "pia"
    (src / "pia-p000-s0").mkdir(parents=True)
    (src / "items.csv").write_text("item\n")
    (src / "pia-p000-s0" / "source.wav").write_bytes(b"RIFF")
    dst = tmp_path / "sources" / "pia"
    dst.mkdir(parents=True)
    (dst / "stale.txt").write_text("old")
    link_tree(src, dst, log=tmp_path / "logs" / "link.log")
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == [
        "items.csv",
        "pia-p000-s0",
        "pia-p000-s0/source.wav",
    ]  # the old folder is replaced, not merged
    assert (dst / "pia-p000-s0" / "source.wav").samefile(src / "pia-p000-s0" / "source.wav")
    assert "linked" in (tmp_path / "logs" / "link.log").read_text()
    with pytest.raises(FileNotFoundError, match="missing does not exist: the job that writes it did not finish"):
        link_tree(tmp_path / "missing", tmp_path / "out")


def test_link_command_of_the_link_sources_rule_links_and_names_a_missing_folder(tmp_path):
    """``python -m difftone.files link``: the shell command of rule link_sources."""
    import subprocess
    import sys

    src = tmp_path / "job" / "flu"
    src.mkdir(parents=True)
    (src / "items.csv").write_text("item\n")
    dst, log = tmp_path / "sources" / "flu", tmp_path / "logs" / "link_flu.log"
    done = subprocess.run(
        [sys.executable, "-m", "difftone.files", "link", str(src), str(dst), "--log", str(log)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (dst / "items.csv").samefile(src / "items.csv") and "linked" in log.read_text()
    missing = subprocess.run(
        [sys.executable, "-m", "difftone.files", "link", str(tmp_path / "gone"), str(dst)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "gone does not exist" in missing.stderr
    assert (dst / "items.csv").is_file()  # a failed link leaves the old folder in place
