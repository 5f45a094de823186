"""The row records are the tables' columns: same names, same order (the store
builds the hot ones by position), None allowed exactly where the column is
nullable, and Python types that match the column types."""

from __future__ import annotations

import inspect
import types
import typing

import msgspec
import pytest
import sqlalchemy as sa

from center import _rows
from center._records import cmdb_hosts, rollouts, task_diagnoses
from center._store import TASK_ROW, accounts, agents, jobs, proxies

TABLES = [
    (_rows.HostRow, agents),
    (_rows.ProxyRow, proxies),
    (_rows.JobRow, jobs),
    (_rows.AccountRow, accounts),
    (_rows.RolloutRow, rollouts),
    (_rows.CmdbRow, cmdb_hosts),
    (_rows.DiagnosisRow, task_diagnoses),
]
#: Columns decoded from JSON text into these types on the way out.
DECODED = {"tags": list, "health": dict, "urls": list, "data": typing.Any}
PYTHON = {sa.String: str, sa.Text: str, sa.Boolean: bool, sa.Double: float, sa.Integer: int, sa.BigInteger: int, sa.LargeBinary: bytes}


def _python_type(column: sa.Column) -> object:
    for sql, py in PYTHON.items():
        if isinstance(column.type, sql) or isinstance(getattr(column.type, "impl", None), sql):
            return py
    raise AssertionError(f"no Python type known for {column.table.name}.{column.name}: {column.type!r}")


def _parts(hint: object) -> tuple[set[object], bool]:
    """The types a field's annotation allows, and whether None is one of them."""
    if hint is typing.Any:
        return {typing.Any}, True
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    kinds = {typing.get_origin(a) or a for a in args if a is not type(None)}
    return kinds, type(None) in args


@pytest.mark.parametrize(("record", "columns"), [(r, list(t.c)) for r, t in TABLES] + [(_rows.TaskRow, list(TASK_ROW))], ids=lambda x: getattr(x, "__name__", ""))
def test_records_are_their_columns(record, columns):
    hints = typing.get_type_hints(record)
    assert list(record.__struct_fields__) == [c.name for c in columns], "fields and columns differ (names or order)"
    outer = {c.name for c in columns if c.table is not columns[0].table}  # a LEFT JOIN's columns may be NULL
    for column in columns:
        kinds, optional = _parts(hints[column.name])
        assert optional == (column.nullable or column.name in outer), f"{record.__name__}.{column.name}: None allowed must match nullable"
        want = DECODED.get(column.name) if column.name in DECODED and _python_type(column) is str else _python_type(column)
        assert kinds == {want}, f"{record.__name__}.{column.name}: {kinds} for a {column.type!r} column"


def test_records_are_frozen_and_keyword_only():
    for name in _rows.__all__:
        record = getattr(_rows, name)
        if isinstance(record, type) and issubclass(record, msgspec.Struct):
            params = inspect.signature(record).parameters.values()
            assert record.__struct_config__.frozen and all(p.kind is p.KEYWORD_ONLY for p in params), name
