"""The shop's database: schema (`models`), opening and upgrades (`database`), demo data (`seed`),
benchmark-size data (`generate`) and the `python -m support_tools.store` command."""
