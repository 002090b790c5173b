"""runner.step"""
