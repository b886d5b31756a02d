"""The registry guide's example: register two versions of a model, promote with an alias (and,
the older way, a stage), and resolve model URIs to the files."""

import json
import tempfile
from pathlib import Path

import prefect_mltrack as mlflow
from prefect_mltrack.artifacts.paths import local_path_from_uri
from prefect_mltrack.model_uris import resolve_model_uri

client = mlflow.MlflowClient()

# Two training runs, each logging a (toy) model directory under "model/".
run_ids = []
for depth in (3, 5):
    with mlflow.start_run(run_name=f"tree-{depth}") as run:
        mlflow.log_param("max_depth", depth)
        model_dir = Path(tempfile.mkdtemp()) / "model"
        model_dir.mkdir()
        (model_dir / "weights.json").write_text(json.dumps({"max_depth": depth}))
        mlflow.log_artifacts(str(model_dir), "model")
    run_ids.append(run.info.run_id)

# register_model creates "iris-classifier" on first use; versions are numbered 1, 2, ...
for run_id in run_ids:
    mv = mlflow.register_model(f"runs:/{run_id}/model", "iris-classifier", tags={"framework": "toy"})
    print(f"registered version {mv.version} from run {mv.run_id[:8]}")

# Aliases (the recommended way): point "champion" at version 2; moving it later is one call.
client.set_registered_model_alias("iris-classifier", "champion", "2")
client.update_model_version("iris-classifier", "2", description="deeper tree")

# Stages (deprecated in MLflow, still supported): promote version 1 to Production.
client.transition_model_version_stage("iris-classifier", "1", "Production", archive_existing_versions=True)

for uri in ("models:/iris-classifier/1", "models:/iris-classifier@champion", "models:/iris-classifier/production"):
    weights = local_path_from_uri(resolve_model_uri(uri, client)) / "weights.json"
    print(f"{uri} -> {json.loads(weights.read_text())}")

model = client.get_registered_model("iris-classifier")
print("aliases:", model.aliases)
print("latest per stage:", sorted((str(v.current_stage), v.version) for v in model.latest_versions))
found = client.search_model_versions("name = 'iris-classifier' AND tags.framework = 'toy'")
print("versions:", [v.version for v in found])
