"""runner.triggers"""
