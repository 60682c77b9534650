"""`neuface sort`: sort aligned faces by one of DFL's methods (DFL scripts 3.1/4.1), or by identity."""

from __future__ import annotations

from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.sort.options import SortOptions
from neuface.workspace import Side

HELP = ("Sort aligned faces into a new order (00000.jpg, ...) by one of DFL's methods (DFL 3.1/4.1), or by "
        "identity (other people last). Rejects go to aligned_trash/; nothing is deleted.")


def _choose_method(by: str | None):
    from neuface.console import stdin_is_tty
    from neuface.errors import UsageError
    from neuface.sort.methods import DEFAULT_MENU_CHOICE, METHODS, get_method, method_list

    if by is not None:
        return get_method(by)
    if not stdin_is_tty():
        raise UsageError(f"choose a method with --by (no terminal for the menu): {method_list()}")
    for m in METHODS:
        typer.echo(f"[{m.number:2d}] {m.key:24s} {m.title}", err=True)
    return get_method(typer.prompt("Choose a sort method", default=str(DEFAULT_MENU_CHOICE), err=True))


@options_command(SortOptions)
def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which faces: src or dst (data_<side>/aligned/).")],
    opts: SortOptions,
) -> None:
    from neuface.console import info
    from neuface.sort.sorter import format_score, sort_aligned

    ws = app_state(ctx).workspace
    method = _choose_method(opts.by)
    opts = opts.replace(by=method.key)
    result = sort_aligned(ws.aligned_dir(side), ws.aligned_trash_dir(side), opts)
    plan = result.plan
    if opts.dry_run and not plan.nothing_to_do:
        typer.echo(f"# new\told\t{method.score_label}")
        for new, k in zip(result.new_names, plan.keep, strict=True):
            typer.echo(f"{new}\t{result.names[k]}\t{format_score(plan.scores[k])}")
        for k in plan.trash:
            typer.echo(f"trash\t{result.names[k]}\t{format_score(plan.scores[k])}")
    for path in result.sheet_files:
        info(f"sheet: {path}")
    if result.renamed is not None:
        r = result.renamed
        info(f"sorted {r.kept} faces by {method.key}; {r.trashed} moved to {ws.aligned_trash_dir(side)}")
        for old, new in r.trash_names:
            info(f"  trash: {old} kept as {new} (name taken)")
    elif opts.dry_run and not plan.nothing_to_do:
        info(f"dry run: {len(plan.keep)} faces in the new order, {len(plan.trash)} to trash; nothing changed")
