"""Shared data for the model-format tests: the seed walkthrough's iris split and forest."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def iris() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    data = load_iris()
    return tuple(train_test_split(data.data, data.target, test_size=0.2, random_state=42))  # type: ignore[return-value]


@pytest.fixture(scope="session")
def forest(iris: tuple[Any, Any, Any, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    x_train, _, y_train, _ = iris
    return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(x_train, y_train)


@pytest.fixture(scope="session")
def iris_frame() -> Any:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True)
