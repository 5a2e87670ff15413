"""The campaign app: HTTP routes over the campaign core (tracking, triggers)."""
