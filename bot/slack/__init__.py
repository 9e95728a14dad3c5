"""The Slack channel: Block Kit rendering (`render`), the id enums (`ids`), and later the Bolt
app factory and listeners."""
