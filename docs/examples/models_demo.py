"""Log a scikit-learn model and a custom Python model, load them back, predict (docs/models.md).

Run: python docs/examples/models_demo.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import prefect_mltrack as mlflow
import prefect_mltrack.pyfunc
import prefect_mltrack.sklearn
from prefect_mltrack.models import infer_signature

iris = load_iris(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(iris.data, iris.target, test_size=0.2, random_state=42)

mlflow.set_experiment("Iris_Models")
with mlflow.start_run() as run:
    clf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_train, y_train)
    # The signature is inferred from the example and the model's prediction on it.
    info = mlflow.sklearn.log_model(clf, name="iris_model", input_example=X_train.head(3))

print("model URI:", info.model_uri == f"runs:/{run.info.run_id}/iris_model")
print("inputs:", info.signature.inputs)
print("outputs:", info.signature.outputs)

# The scikit-learn flavor gives the estimator back ...
sk_model = mlflow.sklearn.load_model(info.model_uri)
print("sklearn predictions:", sk_model.predict(X_test.head(5)).tolist())

# ... the python_function flavor gives any model one predict(), with the signature enforced.
model = mlflow.pyfunc.load_model(info.model_uri)
print("pyfunc on a DataFrame:", model.predict(X_test.head(5)).tolist())
print("pyfunc on records:", model.predict(X_test.head(2).to_dict(orient="records")).tolist())
try:
    model.predict(X_test.drop(columns=["petal width (cm)"]))
except mlflow.MlflowException as err:
    print("missing column:", err.error_code)


# A custom model: any Python code, with files it needs shipped as artifacts.
class ThresholdModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.threshold = float(Path(context.artifacts["threshold"]).read_text())

    def predict(self, context, model_input, params=None):
        scale = (params or {}).get("scale", 1.0)
        return (model_input["petal length (cm)"] * scale > self.threshold).astype(int)


Path("threshold.txt").write_text("4.5")
example = X_test.head(3)
with mlflow.start_run():
    custom = mlflow.pyfunc.log_model(
        name="threshold_model",
        python_model=ThresholdModel(),
        artifacts={"threshold": "threshold.txt"},
        input_example=(example, {"scale": 1.0}),
    )
loaded = mlflow.pyfunc.load_model(custom.model_uri)
print("custom:", loaded.predict(example).tolist(), loaded.predict(example, params={"scale": 0.5}).tolist())
print("params schema:", loaded.metadata.signature.params)

# Signatures can also be written by hand or inferred from any data.
print("tensor signature:", infer_signature(np.zeros((2, 4), dtype="float32")).inputs)
print("frame signature:", infer_signature(pd.DataFrame({"n": [1, 2]}), [0.5, 0.7]).to_dict())
