"""Typer parameters built from a stage's options dataclass (neuface.optionspec), so a command declares none.

A command body names its own parameters (ctx, the side argument) and one parameter annotated with the
options class; `options_command` replaces that one with a typer parameter per field (help, range, default
and flags from the field), and calls the body with one validated options object. neuface.toml still
reaches the flags through click's default_map (root callback), so a flag wins over the table.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from neuface.optionspec import StageOptions, spec_of, type_hints

_O = TypeVar("_O", bound=StageOptions)


def typer_parameters(cls: type[StageOptions]) -> list[inspect.Parameter]:
    """One keyword parameter `name: Annotated[type, typer.Option(...)] = default` per option field."""
    hints = type_hints(cls)
    out: list[inspect.Parameter] = []
    for f in cls.option_fields():
        spec = spec_of(f)
        help_text, show_default = spec.help, spec.show_default
        if spec.default_text is not None:  # rich markup: `\[` prints a literal bracket
            help_text = " ".join(filter(None, (help_text, f"\\[default: {spec.default_text}]")))
            show_default = False
        common: dict[str, Any] = {"help": help_text, "show_default": show_default, "metavar": spec.metavar,
                                  "rich_help_panel": spec.panel}
        info = (typer.Argument(**common) if spec.argument
                else typer.Option(*spec.flags, min=spec.min, max=spec.max, **common))
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                     annotation=Annotated[hints[f.name], info]))
    return out


def options_command(cls: type[_O]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: the body's parameter annotated `cls` becomes the class's options on the command line.

        @options_command(PackOptions)
        def command(ctx: typer.Context, side: FacesetSide, opts: PackOptions) -> None:
    """

    def decorate(body: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(body, eval_str=True)
        slot = next(p.name for p in sig.parameters.values() if p.annotation is cls)
        names = [f.name for f in cls.option_fields()]
        clash = set(names) & set(sig.parameters)
        assert not clash, f"{body.__module__}: parameters {clash} are also fields of {cls.__name__}"
        params: list[inspect.Parameter] = []
        for p in sig.parameters.values():
            params += typer_parameters(cls) if p.name == slot else [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)]

        @functools.wraps(body)
        def command(**kwargs: Any) -> None:
            opts = cls(**{n: kwargs.pop(n) for n in names}).validated()
            body(**kwargs, **{slot: opts})

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
