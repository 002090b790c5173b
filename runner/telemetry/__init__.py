"""runner.telemetry"""
