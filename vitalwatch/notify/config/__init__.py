"""The routing configuration: route tree, matchers, receivers and their tiers, message
templates, and the routing table in force (validated, replaced whole on reload)."""
