"""``mltrack blocks``: save block documents from ``blocks/*.yaml`` to the Prefect API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from prefect_mltrack.exceptions import MLTrackError

blocks_app = typer.Typer(help="Save Prefect blocks (tracking store, artifact storage, model server) from files.")


@blocks_app.command("apply")
def blocks_apply(
    files: Annotated[list[Path], typer.Argument(help="Block documents, e.g. blocks/embedded.yaml.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show, save nothing.")] = False,
) -> None:
    """Validate every block in the files, then save them (overwriting blocks of the same name)."""
    from prefect_mltrack.block_documents import apply_block_file, build_block, read_block_file

    console = Console()
    table = Table("block", "fields")
    try:
        for path in files:
            if dry_run:
                results = [(document, build_block(document)) for document in read_block_file(path)]
            else:
                results = apply_block_file(path)
            for document, block in results:
                fields = block.model_dump(exclude_none=True)  # SecretStr fields print masked
                table.add_row(f"{document.type}/{document.name}", ", ".join(f"{k}={v}" for k, v in fields.items()))
    except MLTrackError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]Error ({exc.error_code}):[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(table)
    console.print("Validated (nothing saved)." if dry_run else "Saved.")
