"""Prepared statements: the per-turn hot path's Core statements, compiled once per dialect and
run straight on the DBAPI cursor of the caller's connection.

A DM answer or a widget message runs five or six short statements. Through
`Connection.execute`, each costs ~100 µs of SQLAlchemy bookkeeping (execution context, cache
lookup, result metadata), several times what SQLite takes to run it. A `Prepared` statement
does that work once per dialect: the SQL string, the order of its parameters, the type
conversions of each parameter and result column (the same processors SQLAlchemy uses: JSON
through the engine's serializer, aware UTC datetimes, UUIDs), and the Python-side column
defaults of an INSERT. Executing it is then binding values and one `cursor.execute`.

It runs inside the caller's transaction (`session.connection()`), so the SQLite writer gate,
commits and rollbacks work as for any other statement. Driver errors are raised as
SQLAlchemy's (`IntegrityError`, `OperationalError`, ...), and a lost connection is
invalidated, as `Connection.execute` would. What it skips: engine events around each cursor
execution and `echo` logging of these statements.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any]


@dataclass
class _Plan:
    """One statement compiled for one dialect (and, for an INSERT, one set of columns)."""

    sql: str
    #: Parameter names in placeholder order (positional paramstyles), or None (named).
    positions: tuple[str, ...] | None
    #: Values the statement carries itself (a LIMIT, a literal), and Python-side defaults.
    constants: dict[str, Any]
    defaults: dict[str, Callable[[], Any]]
    binds: dict[str, Processor]
    row: type | None
    #: The result columns' types; their processors, made at the first row (on PostgreSQL
    #: a numeric column's processor depends on the type code the driver reports).
    result_types: tuple[TypeEngine[Any], ...]
    results: tuple[tuple[int, Processor], ...] | None = None


class Prepared:
    """A Core statement (SELECT, INSERT, UPDATE, with or without RETURNING) run by binding
    values only. Build it once, at import time, like the statement itself:

        _LOAD = Prepared(select(...).where(table.c.id == bindparam("id")))
        row = _LOAD.first(session.connection(), {"id": 7})   # a named tuple, or None
        count = _SAVE.rowcount(connection, {...})

    An INSERT without explicit `.values()` takes its columns from the parameters given; the
    other columns get their Python-side defaults (as `Connection.execute` would)."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self.statement = statement
        # An INSERT without .values() is compiled for the columns each call gives.
        self._columns_from_params = isinstance(statement, Insert) and not statement._values
        self._plans: weakref.WeakKeyDictionary[Dialect, dict[frozenset[str] | None, _Plan]] = (
            weakref.WeakKeyDictionary()
        )
        # The plans of the dialect used last (one per process, but for tests): found without
        # the weak dictionary's lookup on every run. One tuple, so threads see a whole pair.
        self._last: tuple[Dialect, dict[frozenset[str] | None, _Plan]] | None = None

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (attributes named as the statement's columns), or None."""
        plan, cursor = self._run(connection, params)
        try:
            raw = cursor.fetchone()
            if raw is None:
                return None
            _prepare_results(plan, cursor, connection)
        finally:
            cursor.close()
        return _row(plan, raw)

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row, as `first` gives one (for reads in bulk)."""
        plan, cursor = self._run(connection, params)
        try:
            raws = cursor.fetchall()
            if not raws:
                return []
            _prepare_results(plan, cursor, connection)
        finally:
            cursor.close()
        return [_row(plan, raw) for raw in raws]

    def rowcount(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run it; the number of rows it changed."""
        _, cursor = self._run(connection, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def run(self, connection: Connection, params: Mapping[str, Any]) -> None:
        self._run(connection, params)[1].close()

    # --- internals ------------------------------------------------------------------------

    def _run(self, connection: Connection, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        dialect = connection.dialect
        plan = self._plan(dialect, params)
        values = dict(plan.constants)
        for name, make in plan.defaults.items():
            if name not in params:
                values[name] = make()
        values.update(params)
        for name, process in plan.binds.items():
            values[name] = process(values[name])
        bound: Sequence[Any] | Mapping[str, Any] = (
            values if plan.positions is None else [values[name] for name in plan.positions]
        )
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, bound)
        except dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise driver_error(connection, error, plan.sql, bound) from error
        return plan, cursor

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        last = self._last
        if last is not None and last[0] is dialect:
            plans = last[1]
        else:
            plans = self._plans.setdefault(dialect, {})
            self._last = (dialect, plans)
        columns_given = frozenset(params) if self._columns_from_params else None
        plan = plans.get(columns_given)
        if plan is None:
            plan = plans[columns_given] = self._compile(dialect, columns_given)
        return plan

    def _compile(self, dialect: Dialect, columns_given: frozenset[str] | None) -> _Plan:
        if columns_given is not None:
            compiled = self.statement.compile(dialect=dialect, column_keys=sorted(columns_given))
        else:
            compiled = self.statement.compile(dialect=dialect)
        constants = {
            name: value
            for name, value in compiled.construct_params(_check=False).items()
            if value is not None
        }
        # Python-side defaults: `default` of an INSERT's columns not given, `onupdate` of an
        # UPDATE's columns not set (e.g. `updated_at`)
        defaults: dict[str, Callable[[], Any]] = {}
        prefetch = [(c, c.default) for c in getattr(compiled, "insert_prefetch", ())]
        prefetch += [(c, c.onupdate) for c in getattr(compiled, "update_prefetch", ())]
        for column, default in prefetch:
            if default is None or not (default.is_scalar or default.is_callable):
                raise ValueError(f"{column}: only scalar and Python callable defaults")
            name = column.key
            if default.is_callable:
                defaults[name] = _call_default(default.arg)
            else:
                defaults[name] = _constant(default.arg)
        binds: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds[compiled.bind_names.get(bind, name)] = process
        row: type | None = None
        columns = list(self.statement.exported_columns)
        if columns and (isinstance(self.statement, Select) or compiled.effective_returning):
            row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc,no-redef]
        positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        return _Plan(
            sql=compiled.string,
            positions=positions,
            constants=constants,
            defaults=defaults,
            binds=binds,
            row=row,
            result_types=tuple(column.type for column in columns),
        )


def driver_error(
    connection: Connection, error: Any, sql: str, params: Any
) -> exc.StatementError:
    """A DBAPI error raised outside `Connection.execute`, as SQLAlchemy would raise it
    (`IntegrityError`, `OperationalError`, ...); a lost connection is invalidated."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, None)
    if lost:
        connection.invalidate(error)
    wrapped: exc.StatementError = exc.DBAPIError.instance(
        sql, params, error, dialect.loaded_dbapi.Error,
        connection_invalidated=lost, dialect=dialect,
    )
    return wrapped


def _prepare_results(plan: _Plan, cursor: Any, connection: Connection) -> None:
    """The result columns' processors, made from the cursor of the plan's first rows."""
    assert plan.row is not None, "rows asked of a statement that returns none"
    if plan.results is None:
        plan.results = _result_processors(plan, cursor.description, connection.dialect)


def _row(plan: _Plan, raw: Sequence[Any]) -> Any:
    """A fetched row, its columns converted, as the statement's named tuple."""
    if plan.results:
        values = list(raw)
        for index, process in plan.results:
            values[index] = process(values[index])
        raw = values
    return plan.row._make(raw)  # type: ignore[union-attr]


def _result_processors(
    plan: _Plan, description: Sequence[Sequence[Any]], dialect: Dialect
) -> tuple[tuple[int, Processor], ...]:
    processors = []
    for index, (type_, described) in enumerate(zip(plan.result_types, description, strict=True)):
        process = type_.dialect_impl(dialect).result_processor(dialect, described[1])
        if process is not None:
            processors.append((index, process))
    return tuple(processors)


def _call_default(arg: Callable[[Any], Any]) -> Callable[[], Any]:
    # SQLAlchemy wraps a column's callable default to take the execution context; ours ignore it
    return lambda: arg(None)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value
