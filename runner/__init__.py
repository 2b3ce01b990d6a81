"""Runs the whole pipeline for ./run_pipeline.sh: producer and processor, supervised."""
