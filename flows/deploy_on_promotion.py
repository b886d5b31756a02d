"""Redeploy on promotion: whenever ``<model>@<alias>`` moves, publish that version to a model server.

    python flows/deploy_on_promotion.py IrisClassifier champion team

serves the ``deploy-model`` flow with a trigger on the ``mltrack.model.version.promoted`` event of
that model and alias; ``team`` is the name of a saved ``ModelServer`` block (see
``blocks/postgres.yaml``). Needs a Prefect server whose automations can reach this process
(``prefect server start``), as every event-triggered deployment does.
"""

from __future__ import annotations

import sys

from prefect_mltrack.deploy import deploy_model, promotion_trigger


def main(model: str, alias: str, server_block: str) -> None:
    deploy_model.serve(
        name=f"on-promotion-{model.lower()}-{alias}",
        triggers=[promotion_trigger(model, alias, server_block)],
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python flows/deploy_on_promotion.py MODEL ALIAS MODEL_SERVER_BLOCK")
    main(*sys.argv[1:4])
