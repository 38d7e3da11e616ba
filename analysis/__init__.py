"""Statistics on run results: preference scores, consistency and preference-to-behaviour models."""
