"""Sandbox provider: Microsoft.Automation (accounts, runbooks, jobs that run as real processes, webhooks)."""
