"""runner.controller"""
