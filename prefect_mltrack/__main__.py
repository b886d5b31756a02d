"""``python -m prefect_mltrack``: the ``mltrack`` command."""

from prefect_mltrack.cli import app

if __name__ == "__main__":
    app(prog_name="mltrack")
