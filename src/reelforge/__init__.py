"""Reelforge: a self-hosted server for the xAI video generation API."""
