"""A stage's options declared once: a frozen dataclass whose fields carry their CLI help, range and default.

Why: the CLI flags (`neuface.commands._options` builds typer parameters from the fields), the neuface.toml
tables (`StageOptions.from_table`) and `neuface run` all read the same declaration, so an option cannot mean
one thing on the command line and another in a config. Nothing here imports typer: the library side loads
tables without the CLI framework. Values from a table are converted as the CLI converts a flag's text
(with pydantic, as typer does), with the same messages, so both paths give equal objects.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

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
    """

    help: str | None = None
    flags: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    show_default: bool = True
    default_text: str | None = None
    metavar: str | None = None
    panel: str | None = None
    argument: bool = False


def option(default: Any, *, flags: str | tuple[str, ...] = (), **spec: Any) -> Any:
    """A dataclass field that is also a CLI option and a neuface.toml key; `spec`: OptionSpec's other fields."""
    flags = (flags,) if isinstance(flags, str) else tuple(flags)
    return dataclasses.field(default=default, metadata={SPEC: OptionSpec(flags=flags, **spec)})


def spec_of(f: dataclasses.Field[Any]) -> OptionSpec:
    """The spec of an option field (one of `StageOptions.option_fields()`)."""
    return f.metadata[SPEC]


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


def _bool_text(value: Any) -> Any:
    return (value.strip() or False) if isinstance(value, str) else value  # as typer: stripped, "" is off


def _member(kind: type[enum.Enum], value: Any) -> enum.Enum:
    values = [m.value for m in kind]
    if value not in values:
        raise ValueError(f"{value!r} is not one of {', '.join(repr(v) for v in values)}.")
    return kind(value)


@functools.cache
def _adapter(kind: Any, ge: float | None, le: float | None) -> Any:
    """The pydantic validator typer 0.29 builds for a flag of type `kind` (typer/_adapters.py), so a table
    value converts as the flag's text does, with the same messages; `kind` Any checks the range only."""
    from pydantic import BeforeValidator, Field, TypeAdapter

    if kind is bool:
        return TypeAdapter(Annotated[bool, BeforeValidator(_bool_text)])
    if kind is str:
        return TypeAdapter(Annotated[str, BeforeValidator(str)])
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return TypeAdapter(Annotated[kind, BeforeValidator(functools.partial(_member, kind))])
    return TypeAdapter(Annotated[kind, Field(ge=ge, le=le)])


def _checked(kind: Any, name: str, spec: OptionSpec, value: Any, where: str = "") -> Any:
    """`value` converted to `kind` and range-checked, or a one-line UsageError in typer's words."""
    from pydantic import ValidationError

    try:
        return _adapter(kind, spec.min, spec.max).validate_python(value)
    except ValidationError as exc:
        raise UsageError(f"{where}Invalid value for {option_name(name, spec)}: {exc.errors()[0]['msg']}") from None


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
        return [f for f in dataclasses.fields(cls) if SPEC in f.metadata]  # type: ignore[arg-type]

    def validated(self: _T) -> _T:
        """Self, or a one-line UsageError naming the first option outside its range."""
        for f in self.option_fields():
            spec, value = spec_of(f), getattr(self, f.name)
            if value is not None and (spec.min, spec.max) != (None, None):
                _checked(Any, f.name, spec, value)
        return self

    def replace(self: _T, **changes: Any) -> _T:
        """A copy with some fields changed (unchecked: call `validated()` when the values come from a user)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def check_table(cls, table: Mapping[str, Any] | None, where: str) -> None:
        """Refuse keys the stage does not have (its option fields' names, underscores as config.py normalises
        them); `[stage.src]`/`[stage.dst]` sub-tables are checked too."""
        known = {f.name for f in cls.option_fields()}
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
        opts = cls(**{key: _checked(base_type(hints[key]), key, specs[key], value, f"{where}: [{cls.STAGE}]: ")
                      for key, value in values.items()})
        try:
            return opts.validated()
        except UsageError as exc:
            raise UsageError(f"{where}: [{cls.STAGE}]: {exc}") from None
