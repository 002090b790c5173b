"""runner.bus"""
