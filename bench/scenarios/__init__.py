"""The scenarios of `python -m bench`: steady, burst, scale, api, stats."""
