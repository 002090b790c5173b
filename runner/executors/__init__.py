"""runner.executors"""
