"""`neuface sort`: sort aligned faces by one of DFL's methods (DFL scripts 3.1/4.1), or by identity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.workspace import Side

COMMAND_SETTINGS = {
    "help": "Sort aligned faces into a new order (00000.jpg, ...) by one of DFL's methods (DFL 3.1/4.1), or by "
            "identity (other people last). Rejects go to aligned_trash/; nothing is deleted.",
}

METHOD_HELP = ("0 blur, 1 motion-blur, 2 face-yaw, 3 face-pitch, 4 face-source-rect-size, 5 hist, 6 hist-dissim, "
               "7 brightness, 8 hue, 9 black, 10 origname, 11 oneface, 12 absdiff, 13 final, 14 final-fast, "
               "15 identity (name or number). Without it: a menu on a terminal.")


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


def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which faces: src or dst (data_<side>/aligned/).")],
    by: Annotated[str | None, typer.Option("--by", help=METHOD_HELP, show_default=False)] = None,
    target: Annotated[int, typer.Option(
        help="final/final-fast: about how many faces to keep, exactly that many below 128 (the rest go to "
             "aligned_trash/).")] = 2000,
    dissimilar: Annotated[bool, typer.Option(
        "--dissimilar", help="absdiff: chain to the most different face instead of the most similar.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the new order and each face's score; change nothing.")] = False,
    sheet: Annotated[Path | None, typer.Option(
        help="Also write a contact sheet of the new order with scores: FILE.png (paged) or FILE.html.",
        show_default=False)] = None,
    jobs: Annotated[int, typer.Option(min=0, help="Worker processes for the metrics; 0 = one per core.")] = 0,
) -> None:
    from neuface.console import info
    from neuface.sort.sorter import SortOptions, format_score, sort_aligned

    st = app_state(ctx)
    method = _choose_method(by)
    opts = SortOptions(method=method, target=target, similar=not dissimilar, dry_run=dry_run, sheet=sheet,
                       jobs=jobs or None)
    ws = st.workspace
    result = sort_aligned(ws.aligned_dir(side), ws.aligned_trash_dir(side), opts)
    plan = result.plan
    if dry_run and not plan.nothing_to_do:
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
    elif dry_run and not plan.nothing_to_do:
        info(f"dry run: {len(plan.keep)} faces in the new order, {len(plan.trash)} to trash; nothing changed")
