"""Prefect export of the extractor DAG (`quarry flows export`) and the steps the flows run."""
