"""Distributed execution of forecasts (Ray executor: see the project's issues)."""
