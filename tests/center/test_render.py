"""The CLI job summary: groups by every part of the outcome, and says when output was cut."""

from __future__ import annotations

import io

from rich.console import Console

from center.cli._render import TRUNCATED, group_results, print_summary


def _r(host: str, data: object = None, stdout: str = "", truncated: bool = False, state: str = "succeeded") -> dict[str, object]:
    return {"host_id": host, "hostname": host, "state": state, "code": "", "exit_code": 0, "stdout": stdout, "stderr": "",
            "message": "", "data": data, "truncated": truncated}


def test_different_data_makes_different_groups():
    groups = group_results([_r("a", {"n": 1}), _r("b", {"n": 2}), _r("c", {"n": 1})])
    sizes = sorted(len(rows) for _key, rows in groups)
    assert sizes == [1, 2]


def test_equal_data_in_any_key_order_is_one_group():
    groups = group_results([_r("a", {"x": 1, "y": 2}), _r("b", {"y": 2, "x": 1})])
    assert len(groups) == 1


def test_truncated_output_is_its_own_group_and_is_marked():
    job = {"job_id": "j1", "action": "exec.run", "total": 2, "counts": {"succeeded": 2},
           "hosts": [_r("a", stdout="x" * 10, truncated=True), _r("b", stdout="x" * 10)]}
    assert len(group_results(job["hosts"])) == 2
    out = io.StringIO()
    print_summary(Console(file=out, width=120), job)
    text = out.getvalue()
    assert text.count(TRUNCATED) == 1
    assert "● 1 host" in text


def test_summary_shows_each_groups_data():
    job = {"job_id": "j1", "action": "sys.info", "total": 2, "counts": {"succeeded": 2},
           "hosts": [_r("a", {"kernel": "6.1"}), _r("b", {"kernel": "6.6"})]}
    out = io.StringIO()
    print_summary(Console(file=out, width=120), job)
    assert '"6.1"' in out.getvalue() and '"6.6"' in out.getvalue()


def test_show_all_lists_every_host_and_streams_are_labelled():
    rows = [_r(f"h{i:02d}", stdout="same\n") | {"stderr": "warn\n"} for i in range(12)]
    job = {"job_id": "j1", "action": "exec.run", "total": 12, "counts": {"succeeded": 12}, "hosts": rows}
    short, full = io.StringIO(), io.StringIO()
    print_summary(Console(file=short, width=200), job)
    print_summary(Console(file=full, width=200), job, show_all=True)
    assert "+4 more (--show-all lists them)" in short.getvalue() and "h11" not in short.getvalue()
    assert all(f"h{i:02d}" in full.getvalue() for i in range(12)) and "more" not in full.getvalue()
    assert "  stdout:\n    same\n" in full.getvalue() and "  stderr:\n    warn\n" in full.getvalue()
