"""What the tools show a person: tables (:mod:`.tables`), charts (:mod:`.plots`) and the
Ed25519 signing of the reports `greekstream report` writes (:mod:`.signing`).

Imports only the runtime and the core; the api and the commands use it.
"""
