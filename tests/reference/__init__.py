"""An independent reference model of `greekstream replay` and a generator of cases for it."""
