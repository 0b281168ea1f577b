"""Responsibility, cold-chain analysis, tickets and compensation for fresh-food claims."""
