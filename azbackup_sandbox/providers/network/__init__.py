"""Sandbox provider: Microsoft.Network (VNets, subnets, NICs, NSGs, route tables, service tags, effective
rules and routes, Network Watcher)."""
