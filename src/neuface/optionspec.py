"""A stage's options declared once: a frozen dataclass whose fields carry their CLI help, range and default.

Why: the CLI flags (`neuface.commands._options` builds typer parameters from the fields), the neuface.toml
tables (`StageOptions.from_table`) and `neuface run` all read the same declaration, so an option cannot mean
one thing on the command line and another in a config. Nothing here imports typer: the library side loads
tables without the CLI framework. Values from a table are converted as the CLI converts a flag's text
(ints, floats, bools, paths, enums), with the same messages, so both paths give equal objects.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from neuface.errors import UsageError

SPEC = "neuface.option"
SIDES = ("src", "dst")
_T = TypeVar("_T", bound="StageOptions")


@dataclass(frozen=True)
class OptionSpec:
    """How one field appears on the command line (and which values it takes from anywhere).

    flags: typer's declarations (`"--by"`, `"--debug/--no-debug"`, `("--yes", "-y")`); none = `--<name>`.
    default_text: shown as `[default: TEXT]` after the help where the real default (often None) says too
    little; typer's own default display is then off.
    argument: a positional argument (`neuface export OUT`) instead of an option.
    choices: allowed values, checked by `validated()` only (the help keeps showing the plain type).
    """

    help: str | None = None
    flags: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    show_default: bool = True
    default_text: str | None = None
    metavar: str | None = None
    hidden: bool = False
    panel: str | None = None
    argument: bool = False


def option(default: Any = MISSING, *, help: str | None = None, flags: str | tuple[str, ...] = (),
           min: float | None = None, max: float | None = None,
           choices: tuple[Any, ...] | None = None, show_default: bool = True, default_text: str | None = None,
           metavar: str | None = None, hidden: bool = False, panel: str | None = None, argument: bool = False,
           default_factory: Any = MISSING) -> Any:
    """A dataclass field that is also a CLI option and a neuface.toml key (see OptionSpec)."""
    spec = OptionSpec(help=help, flags=(flags,) if isinstance(flags, str) else tuple(flags), min=min, max=max,
                      choices=choices, show_default=show_default, default_text=default_text, metavar=metavar,
                      hidden=hidden, panel=panel, argument=argument)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={SPEC: spec})


def spec_of(f: dataclasses.Field[Any]) -> OptionSpec | None:
    return f.metadata.get(SPEC)


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of an options class (its module imports them at run time, not under TYPE_CHECKING)."""
    return typing.get_type_hints(cls)


def base_type(hint: Any) -> Any:
    """`Path | None` -> Path: the type a value converts to."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def option_name(name: str, spec: OptionSpec) -> str:
    """How an error names the option, as typer does: `'--jpeg-quality'`, `'--yes' / '-y'`, `'video'`."""
    if spec.argument:
        return f"'{name}'"
    decls = [d.split("/")[0] for d in spec.flags] or [f"--{name.replace('_', '-')}"]
    return " / ".join(f"'{d}'" for d in decls)


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class _Invalid(ValueError):
    """A value an option does not take; the text is typer's (pydantic's) wording."""


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise _Invalid("Input should be a valid boolean, unable to interpret input")
    raise _Invalid("Input should be a valid boolean")


def _to_int(value: Any) -> int:
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise _Invalid("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _Invalid("Input should be a valid integer, unable to parse string as an integer") from None
    raise _Invalid("Input should be a valid integer")


def _to_float(value: Any) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Invalid("Input should be a valid number, unable to parse string as a number") from None
    raise _Invalid("Input should be a valid number")


def _to_str(value: Any) -> str:
    if isinstance(value, str | bool | int | float):
        return str(value)
    raise _Invalid("Input should be a valid string")


def _to_path(value: Any) -> Path:
    if isinstance(value, str | Path):
        return Path(value)
    raise _Invalid("Input is not a valid path for <class 'pathlib.Path'>")


def convert(hint: Any, value: Any) -> Any:
    """A table value as the field's type, the way typer converts a flag's value (raises _Invalid)."""
    kind = base_type(hint)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        values = [m.value for m in kind]
        if value not in values:
            raise _Invalid(f"Value error, {value!r} is not one of {', '.join(repr(v) for v in values)}.")
        return kind(value)
    converters = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, Path: _to_path}
    if kind not in converters:
        raise TypeError(f"no table conversion for option type {hint!r}")
    return converters[kind](value)


def check_value(spec: OptionSpec, value: Any) -> None:
    """Range and choice checks with typer's wording (raises _Invalid)."""
    if value is None or isinstance(value, bool):
        return
    if spec.min is not None and not value >= spec.min:
        raise _Invalid(f"Input should be greater than or equal to {_bound(spec.min)}")
    if spec.max is not None and not value <= spec.max:
        raise _Invalid(f"Input should be less than or equal to {_bound(spec.max)}")
    if spec.choices is not None and value not in spec.choices:
        raise _Invalid(f"Value error, {value!r} is not one of {', '.join(repr(c) for c in spec.choices)}.")


class StageOptions:
    """Base of a stage's frozen options dataclass: `validated()`, `from_table()`, `replace()`.

    Subclasses set STAGE (the subcommand and neuface.toml table name) and declare fields with `option()`;
    a plain field (no `option()`) is set by code only (e.g. the device), never by a flag or a table.
    Override `validated()` (calling super) for checks that span fields or need their own wording.
    """

    STAGE: ClassVar[str] = ""

    @classmethod
    def option_fields(cls) -> list[dataclasses.Field[Any]]:
        """The fields that are options, in declaration (= --help) order."""
        return [f for f in dataclasses.fields(cls) if spec_of(f) is not None]  # type: ignore[arg-type]

    @classmethod
    def table_keys(cls) -> list[str]:
        """The keys its neuface.toml table takes (field names, underscores as config.py normalises them)."""
        return [f.name for f in cls.option_fields()]

    def validated(self: _T) -> _T:
        """Self, or a one-line UsageError naming the first option outside its range or choices."""
        for f in self.option_fields():
            spec = spec_of(f)
            assert spec is not None
            try:
                check_value(spec, getattr(self, f.name))
            except _Invalid as exc:
                raise UsageError(f"Invalid value for {option_name(f.name, spec)}: {exc}") from None
        return self

    def replace(self: _T, **changes: Any) -> _T:
        """A copy with some fields changed (unchecked: call `validated()` when the values come from a user)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def check_table(cls, table: Mapping[str, Any] | None, where: str) -> None:
        """Refuse keys the stage does not have; `[stage.src]`/`[stage.dst]` sub-tables are checked too."""
        known = set(cls.table_keys())
        for key, value in (table or {}).items():
            if isinstance(value, dict):
                if key not in SIDES:
                    raise UsageError(f"{where}: [{cls.STAGE}.{key}]: only [{cls.STAGE}.src] and "
                                     f"[{cls.STAGE}.dst] sub-tables exist")
                cls.check_table(value, where)
            elif key not in known and key != "side":
                names = ", ".join(sorted(n.replace("_", "-") for n in known))
                raise UsageError(f"{where}: [{cls.STAGE}] has no option {key.replace('_', '-')!r} (options: {names})")

    @classmethod
    def from_table(cls: type[_T], table: Mapping[str, Any] | None, where: str = "neuface.toml",
                   side: str | None = None) -> _T:
        """The options a neuface.toml table sets (the rest at their defaults), converted and validated.

        With `side`, the `[stage.<side>]` sub-table overlays the plain keys. A `side` key is accepted and
        ignored, as the CLI's own argument wins over it. Errors name the file and the table, on one line.
        """
        cls.check_table(table, where)
        values = {k: v for k, v in (table or {}).items() if not isinstance(v, dict)}
        if side is not None and isinstance((table or {}).get(side), dict):
            values.update(table[side])  # type: ignore[index]
        values.pop("side", None)
        hints, specs = type_hints(cls), {f.name: spec_of(f) for f in cls.option_fields()}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            spec = specs[key]
            assert spec is not None
            try:
                kwargs[key] = convert(hints[key], value)
                check_value(spec, kwargs[key])
            except _Invalid as exc:
                raise UsageError(f"{where}: [{cls.STAGE}]: Invalid value for {option_name(key, spec)}: {exc}") from None
        opts = cls(**kwargs)
        try:
            return opts.validated()
        except UsageError as exc:
            raise UsageError(f"{where}: [{cls.STAGE}]: {exc}") from None
