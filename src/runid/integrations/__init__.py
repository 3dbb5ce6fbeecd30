"""Adapters that build runid declarations and observed facts from provider SDK calls."""
