"""Native routing: which model group and deployment serves a Messages request (by tier and effort)."""
