"""What runs inside a step process: ``python -m runner.step --request FILE``.

Kept import-light on purpose: the step process starts for every attempt, so
only what the step needs is imported (a file store never imports boto).
"""
