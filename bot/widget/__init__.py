"""The website chat widget: the JSON API, the embed script and the demo page."""
