"""The README quickstart: MLflow's tracking example with only the import line changed."""

from pathlib import Path

import prefect_mltrack as mlflow

Path("some_local_file.csv").write_text("sepal_length,species\n5.1,setosa\n")

mlflow.set_experiment("Iris_Classification")
with mlflow.start_run(run_name="RandomForest_Experiment") as run:
    mlflow.log_param("n_estimators", 100)
    mlflow.log_params({"max_depth": 5, "criterion": "gini"})
    for epoch in range(1, 5):
        mlflow.log_metric("loss", 1.0 / epoch, step=epoch)
    mlflow.log_metric("accuracy", 0.97)
    mlflow.set_tag("team", "vision")
    mlflow.log_text("Model Accuracy: 0.97", "output.txt")
    mlflow.log_artifact("some_local_file.csv")
    with mlflow.start_run(run_name="child", nested=True):
        mlflow.log_metric("fold_acc", 0.95)
runs = mlflow.search_runs(
    filter_string="metrics.accuracy > 0.9 and params.max_depth = '5'", order_by=["metrics.accuracy DESC"]
)  # a pandas DataFrame, MLflow's columns
client = mlflow.MlflowClient()  # also prefect_mltrack.client.MlflowClient
history = client.get_metric_history(run.info.run_id, "loss")

print(runs[["run_id", "metrics.accuracy", "params.max_depth", "tags.mlflow.runName"]].to_string(index=False))
print("loss history:", [(m.step, m.value) for m in history])
print("artifacts:", [f.path for f in client.list_artifacts(run.info.run_id)])
