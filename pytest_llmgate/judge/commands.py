"""`llmgate rubrics`: list the built-in rubric pack, copy a rubric into `rubrics/` to change it."""

from __future__ import annotations

from pathlib import Path

import click

from pytest_llmgate.judge.rubrics import PACK_DIR, PACK_PREFIX, RubricError, load_rubrics, pack_file


@click.group()
def rubrics() -> None:
    """The built-in rubrics (`llmgate:<name>` in llm_gate.judge)."""


@rubrics.command("list")
def list_rubrics() -> None:
    """List the built-in rubrics with their version and what each measures."""
    for name, rubric in sorted(load_rubrics(PACK_DIR).items()):
        click.echo(f"{PACK_PREFIX}{name}  v{rubric.version}  {rubric.kind}  {rubric.doc}")


@rubrics.command("copy")
@click.argument("name")
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rubrics"),
    show_default=True,
    help="Folder of your rubrics (ini llm_gate_rubrics).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def copy(name: str, folder: Path, force: bool) -> None:
    """Copy built-in rubric NAME to FOLDER/NAME.yaml, to be edited and used as llm_gate.judge("NAME")."""
    try:
        source = pack_file(name)
    except RubricError as exc:
        raise click.ClickException(str(exc)) from None
    target = folder / source.name
    if target.exists() and not force:
        msg = f"{target} already exists; pass --force to overwrite it."
        raise click.ClickException(msg)
    from pytest_llmgate._files import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, source.read_text(encoding="utf-8"))
    click.echo(
        f'wrote {target}: use it as llm_gate.judge("{source.stem}"); its content hash is the rubric\'s '
        "fingerprint, so after editing it run once with --llm-gate-rejudge-baseline (the baseline's outputs "
        "are judged again with the edited rubric and compared with this run's)."
    )
