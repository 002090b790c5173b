"""runner.dsl"""
