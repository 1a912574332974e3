"""Sandbox provider."""
