"""Tests for prefect_mltrack.artifacts (a package so module names like test_local stay unique)."""
