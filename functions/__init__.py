"""Reusable ML components and the demo pipelines.

Import the components into your own pipelines::

    from functions.data import ingest, validate, split
    from functions.training import preprocess, train, evaluate
"""
